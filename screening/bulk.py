"""Fast bulk inserts for synthetic data: rows as plain dicts straight to the database cursor.

`bulk_create` prepares every value of every field through the ORM; with ~120 columns per
screening that dominates the cost of generating a large data set.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import date, datetime

from django.db import connection, models

_NATIVE = (bool, int, str, float, type(None))


@functools.cache
def _defaults(model: type[models.Model]) -> tuple[dict, tuple]:
    static, dynamic = {}, []
    for f in model._meta.concrete_fields:
        if callable(f.default):
            dynamic.append(f)
        else:
            static[f.attname] = f.get_default()
    return static, tuple(dynamic)


def instance_stub(model: type[models.Model]) -> models.Model:
    """A model instance with every column at its default, without the cost of Model.__init__."""
    static, dynamic = _defaults(model)
    obj = model.__new__(model)
    obj.__dict__.update(static)
    for f in dynamic:
        obj.__dict__[f.attname] = f.get_default()
    return obj


def insert_rows(model: type[models.Model], rows: Iterable[models.Model]) -> int:
    """INSERT the given instances (stubs or full) in one statement per call; returns the row count."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    slow = {
        f.attname
        for f in fields
        if isinstance(f, models.JSONField | models.UUIDField | models.DateTimeField | models.DateField)
    }
    values = []
    for obj in rows:
        row = []
        for f in fields:
            v = obj.__dict__[f.attname]
            if f.attname in slow or not isinstance(v, _NATIVE):
                if isinstance(v, uuid.UUID | datetime | date) or f.attname in slow:
                    v = f.get_db_prep_save(v, connection)
            row.append(v)
        values.append(row)
    if not values:
        return 0
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor.cursor, f"INSERT INTO {table} ({columns}) VALUES %s", values, page_size=1000)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    return len(values)
