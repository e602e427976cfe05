"""The release step (DESIGN.md §12): migrate once, then collect static files.

Run it against PostgreSQL directly as the owner role (`make release` uses RELEASE_DATABASE_URL), never
through PgBouncer: it holds a session advisory lock while it migrates, so release steps started at once
(several app servers deploying) wait for each other instead of migrating twice.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

RELEASE_LOCK = 0x10A0D18  # one program-wide key (the audit writers use 0x10A0D17)


class Command(BaseCommand):
    help = "Migrate (one release step at a time, on PostgreSQL) and collect static files."

    def add_arguments(self, parser):
        parser.add_argument("--skip-static", action="store_true", help="migrate only")

    def handle(self, *args, skip_static: bool = False, **options):
        locked = connection.vendor == "postgresql"
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK])  # waits for another release step
        try:
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
        finally:
            if locked:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK])
        if not skip_static:
            call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write("Released: migrations applied" + ("" if skip_static else ", static files collected") + ".")
