"""`manage.py clear_kept_answers`: run on a schedule (docs/operations.md, Housekeeping). Deletes the answers kept
after a session ended (DESIGN.md §11) once their 24 hours are over; they are never offered after that, and
this keeps them from lingering in the database. Audited when it deletes any."""

from django.core.management.base import BaseCommand

from screening import services


class Command(BaseCommand):
    help = "Delete the answers kept after a session ended whose 24 hours are over."

    def handle(self, *args, **options):
        deleted = services.answers_expire()
        self.stdout.write(f"Deleted {deleted} expired kept answer set{'s' if deleted != 1 else ''}.")
