"""The dashboard roll-up's triggers (migration 0016_dashboard_rollup) survive later migrations. SQLite adds a column
with a default, or a check constraint, by remaking the table, which drops its triggers: then no write marks its day
and the dashboard silently stops following changes. After every migrate, `rollups.keep_triggers` makes them again."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from screening import rollups
from screening.models import DashboardDirtyDay
from tests.factories import make_screening


def drop(name: str) -> None:
    on = " ON screening_screening" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name}{on}")


@pytest.mark.django_db
def test_every_migration_leaves_the_triggers_in_place():
    # The test database was made by `migrate`, every migration after 0016 included (0021 and later remake the
    # screening table on SQLite).
    assert rollups.trigger_names(connection) == rollups.TRIGGERS


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor cannot run inside the test's transaction
def test_triggers_lost_to_a_migration_are_made_again_by_migrate_and_every_day_marked():
    s = make_screening()
    DashboardDirtyDay.objects.all().delete()
    drop("screening_dashboard_mark_update")
    assert rollups.trigger_names(connection) == rollups.TRIGGERS - {"screening_dashboard_mark_update"}

    call_command("migrate", verbosity=0)

    assert rollups.trigger_names(connection) == rollups.TRIGGERS
    assert DashboardDirtyDay.objects.filter(day=s.created_at.date()).exists()  # unmarked writes meanwhile: all marked


@pytest.mark.django_db
def test_triggers_in_place_are_left_alone():
    assert rollups.keep_triggers(apps.get_app_config("screening")) is False
