"""Fast bulk inserts for synthetic data: plain values straight to the database cursor, each column converted by a
function chosen once per field and vendor (`bulk_create` preparing ~120 columns a screening through the ORM was
most of the cost of generating a large data set)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable

from django.db import connection, models
from django.db.models.fields import AutoFieldMixin


@functools.cache
def _defaults(model: type[models.Model]) -> tuple[dict, tuple]:
    static, dynamic = {}, []
    for f in model._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            dynamic.append(f)
        else:
            static[f.attname] = f.get_default()
    return static, tuple(dynamic)


def instance_stub(model: type[models.Model], **values) -> models.Model:
    """A model instance with every column at its default, without the cost of Model.__init__."""
    static, dynamic = _defaults(model)
    obj = model.__new__(model)
    obj.__dict__.update(static)
    obj.__dict__.update({f.attname: f.get_default() for f in dynamic if f.attname not in values})
    obj.__dict__.update(values)
    return obj


def _utc_naive_text(value: dt.datetime) -> str:
    # Django's SQLite backend stores datetimes as naive UTC text.
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _converter(field: models.Field, vendor: str) -> Callable | None:
    sqlite = vendor == "sqlite"
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(field, models.UUIDField):
        return lambda v: None if v is None else (v.hex if sqlite else str(v))
    if isinstance(field, models.DateTimeField):
        return (lambda v: None if v is None else _utc_naive_text(v)) if sqlite else None
    if isinstance(field, models.DateField):
        return (lambda v: None if v is None else v.isoformat()) if sqlite else None
    return None  # bool, int, str and foreign-key ids go as they are


def insert_rows(model: type[models.Model], rows: Iterable[models.Model]) -> int:
    """INSERT the given instances (stubs or full) in bulk; returns the row count."""
    # Every column but a generated key (a one-to-one primary key, as RiskSummary's, is written).
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
    plan = [(f.attname, _converter(f, connection.vendor)) for f in fields]
    values = [[(conv(obj.__dict__[name]) if conv else obj.__dict__[name]) for name, conv in plan] for obj in rows]
    if not values:
        return 0
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            # Table and column names come from the model, quoted; every value is a parameter.
            sql = f"INSERT INTO {table} ({columns}) VALUES %s"  # nosec B608
            execute_values(cursor.cursor, sql, values, page_size=1000)
        else:
            marks = ", ".join(["%s"] * len(fields))
            # As above: names from the model, values as parameters.
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # nosec B608
    return len(values)
