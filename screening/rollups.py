"""The dashboard's daily roll-up (issue 15): derived counts per day, so that a 90-day dashboard reads a few
thousand small rows instead of grouping 100,000+ screenings on every load.

- `DashboardCell`: per day (program time zone) and (recommended, final, decision, override reason, clinician),
  how many latest versions (`dashboard.latest_versions`) were started that day, and how many raised each flag.
- `DashboardMinutes`: per day and whole minutes from start to signature, how many signed screenings.
- `DashboardDirtyDay`: UTC days whose screenings changed since their cells were made. The database marks them
  itself — a trigger on the screening table (migration 0016_dashboard_rollup) fires on every insert, update or
  delete of a completed or signed screening, whoever writes it (services, bulk inserts, `update()`, raw SQL) —
  and `dashboard.refresh` remakes the days of a range that are marked before reading it.

Derived data only: emptying these tables and marking every day dirty (`dashboard.mark_all_dirty`) rebuilds them.
"""

from __future__ import annotations

import importlib
import json

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.migrations.recorder import MigrationRecorder


class DashboardCell(models.Model):
    day = models.DateField()
    recommended_level = models.CharField(max_length=16)
    final_level = models.CharField(max_length=16)
    decision = models.CharField(max_length=16)
    override_reason = models.CharField(max_length=32)
    clinician_id = models.IntegerField()  # the user who started the screening (no foreign key: derived data)
    n = models.PositiveIntegerField()
    flag_emergency_referral = models.PositiveIntegerField()
    flag_safety_review = models.PositiveIntegerField()
    flag_detox_first = models.PositiveIntegerField()
    flag_below_iop_threshold = models.PositiveIntegerField()
    flag_no_support_network = models.PositiveIntegerField()
    flag_commitments_conflict = models.PositiveIntegerField()
    flag_attendance_barrier = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="screening_dashcell_day_idx")]

    def __str__(self) -> str:
        return f"{self.day}: {self.n}"


class DashboardMinutes(models.Model):
    day = models.DateField()
    minutes = models.IntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="screening_dashmin_day_idx")]

    def __str__(self) -> str:
        return f"{self.day}: {self.n} signed after {self.minutes} min"


class DashboardDirtyDay(models.Model):
    # A UTC day, and a counter every marking raises: a refresh clears a mark only if no write marked it again
    # after the refresh read it (the write's transaction may not have been visible to the refresh).
    day = models.DateField(unique=True)
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.day} (v{self.version})"


# --- The triggers, kept. SQLite adds a column with a default, or a check constraint, by remaking the table, and the
# remade table has lost its triggers: after such a migration no write would mark its day, and the dashboard would
# silently stop following changes. So after every migrate, the triggers are made again wherever they are missing.
ROLLUP_MIGRATION = "0016_dashboard_rollup"
TRIGGERS = frozenset(f"screening_dashboard_mark_{op}" for op in ("insert", "update", "delete"))


def trigger_names(connection) -> set[str]:
    """The roll-up's triggers present on the screening table."""
    if connection.vendor == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s)"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN (SELECT value FROM json_each(%s))"
    names = sorted(TRIGGERS)
    with connection.cursor() as cursor:
        cursor.execute(sql, [names if connection.vendor == "postgresql" else json.dumps(names)])
        return {name for (name,) in cursor.fetchall()}


def keep_triggers(sender, *, using: str = DEFAULT_DB_ALIAS, **kwargs) -> bool:
    """post_migrate: make the roll-up's triggers again if a migration lost them, then mark every day, since writes
    in between went unmarked. True when they had to be made again."""
    connection = connections[using]
    if ("screening", ROLLUP_MIGRATION) not in MigrationRecorder(connection).applied_migrations():
        return False  # before the roll-up (or migrated back past it): no triggers belong there
    if trigger_names(connection) >= TRIGGERS:
        return False
    rollup = importlib.import_module(f"screening.migrations.{ROLLUP_MIGRATION}")
    with connection.schema_editor() as editor:
        rollup.drop_triggers(None, editor)
        rollup.create_triggers(None, editor)
    from .dashboard import mark_all_dirty

    mark_all_dirty()
    return True
