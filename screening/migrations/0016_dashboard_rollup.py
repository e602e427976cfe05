"""The dashboard's daily roll-up (issue 15; screening/rollups.py): its tables, the triggers by which the database
marks the days whose screenings change, and a mark on every day that already has screenings, so the roll-up is
made as each range is first read."""

from django.db import migrations, models

SCREENING, DIRTY = "screening_screening", "screening_dashboarddirtyday"
# Which rows matter: drafts are never counted, so a draft's saves mark nothing.
WHEN = {
    "INSERT": "NEW.status <> 'draft'",
    "UPDATE": "OLD.status <> 'draft' OR NEW.status <> 'draft'",
    "DELETE": "OLD.status <> 'draft'",
}
ROWS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}


def _mark(row: str, utc_day) -> str:
    """Mark the UTC day of a row and of the screening it amends (an amendment changes what counts of it)."""
    return (
        f"INSERT INTO {DIRTY} (day, version) SELECT d, 1 FROM ("
        f"SELECT {utc_day(f'{row}.created_at')} AS d UNION "
        f"SELECT {utc_day('created_at')} FROM {SCREENING} WHERE id = {row}.amends_id"
        f") AS marked WHERE d IS NOT NULL ON CONFLICT (day) DO UPDATE SET version = {DIRTY}.version + 1;"
    )


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        utc_day = lambda column: f"({column} AT TIME ZONE 'UTC')::date"  # noqa: E731
        for op in ROWS:
            name = f"screening_dashboard_mark_{op.lower()}"
            body = "\n  ".join(_mark(row, utc_day) for row in ROWS[op])
            schema_editor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  {body}\n  RETURN NULL;\nEND $$"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER {op} ON {SCREENING} FOR EACH ROW WHEN ({WHEN[op]}) "
                f"EXECUTE FUNCTION {name}()"
            )
    else:  # SQLite
        utc_day = lambda column: f"date({column})"  # noqa: E731 - Django stores UTC datetimes as text
        for op in ROWS:
            body = " ".join(_mark(row, utc_day) for row in ROWS[op])
            schema_editor.execute(
                f"CREATE TRIGGER screening_dashboard_mark_{op.lower()} AFTER {op} ON {SCREENING} "
                f"FOR EACH ROW WHEN {WHEN[op]} BEGIN {body} END"
            )


def drop_triggers(apps, schema_editor):
    for op in ROWS:
        name = f"screening_dashboard_mark_{op.lower()}"
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {SCREENING}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


def mark_every_day(apps, schema_editor):
    utc_day = (
        "(created_at AT TIME ZONE 'UTC')::date"
        if schema_editor.connection.vendor == "postgresql"
        else "date(created_at)"
    )
    schema_editor.execute(
        f"INSERT INTO {DIRTY} (day, version) SELECT DISTINCT {utc_day}, 1 FROM {SCREENING} WHERE status <> 'draft'"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0020_merge_record_and_replay"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardDirtyDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(unique=True)),
                ("version", models.PositiveIntegerField(default=1)),
            ],
        ),
        migrations.CreateModel(
            name="DashboardCell",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("recommended_level", models.CharField(max_length=16)),
                ("final_level", models.CharField(max_length=16)),
                ("decision", models.CharField(max_length=16)),
                ("override_reason", models.CharField(max_length=32)),
                ("clinician_id", models.IntegerField()),
                ("n", models.PositiveIntegerField()),
                ("flag_emergency_referral", models.PositiveIntegerField()),
                ("flag_safety_review", models.PositiveIntegerField()),
                ("flag_detox_first", models.PositiveIntegerField()),
                ("flag_below_iop_threshold", models.PositiveIntegerField()),
                ("flag_no_support_network", models.PositiveIntegerField()),
                ("flag_commitments_conflict", models.PositiveIntegerField()),
                ("flag_attendance_barrier", models.PositiveIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["day"], name="screening_dashcell_day_idx")],
            },
        ),
        migrations.CreateModel(
            name="DashboardMinutes",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("minutes", models.IntegerField()),
                ("n", models.PositiveIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["day"], name="screening_dashmin_day_idx")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(mark_every_day, migrations.RunPython.noop),
    ]
