# Issue 5: the audit log is append-only in the database too (PostgreSQL trigger), and exports
# record which clients they contained (accounting of disclosures).
import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION screening_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'screening_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS screening_auditevent_no_change ON screening_auditevent;
CREATE TRIGGER screening_auditevent_no_change
    BEFORE UPDATE OR DELETE ON screening_auditevent
    FOR EACH ROW EXECUTE FUNCTION screening_auditevent_append_only();
DROP TRIGGER IF EXISTS screening_auditevent_no_truncate ON screening_auditevent;
"""
# TRUNCATE is left to the table owner: Django's test framework empties tables with it between
# transactional tests. Application code never truncates, and verify_audit would see an emptied log
# only as a shorter chain, so the owner role should not be the application's role in production.
DROP_SQL = """
DROP TRIGGER IF EXISTS screening_auditevent_no_change ON screening_auditevent;
DROP TRIGGER IF EXISTS screening_auditevent_no_truncate ON screening_auditevent;
DROP FUNCTION IF EXISTS screening_auditevent_append_only();
"""


def add_trigger(apps, schema_editor):
    # SQLite has no such trigger: there the model refuses changes and verify_audit detects raw SQL ones.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0003_review"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.CreateModel(
            name="ExportRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("actor_username", models.CharField(blank=True, default="", max_length=150)),
                ("format", models.CharField(max_length=8)),
                ("deidentified", models.BooleanField()),
                ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("event", models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="export_run", to="screening.auditevent")),
            ],
            options={"ordering": ["-started_at", "-id"]},
        ),
        migrations.CreateModel(
            name="ExportDisclosure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("client", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="disclosures", to="screening.client")),
                ("export", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="disclosures", to="screening.exportrun")),
            ],
            options={
                "indexes": [models.Index(fields=["client", "export"], name="screening_disclosure_cl_idx")],
                "constraints": [models.UniqueConstraint(fields=("export", "client"), name="screening_exportdisclosure_unique_client")],
            },
        ),
    ]
