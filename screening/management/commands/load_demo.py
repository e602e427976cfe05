"""`manage.py load_demo`: demo users and clients (fixtures/demo.json) and synthetic screenings. Idempotent: run by
`make run` every time; screenings are generated only into an empty database. Never used by the tests."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from screening.models import Client, Screening

DEMO_SCREENINGS = 600


class Command(BaseCommand):
    help = "Load the demo users and clients, and synthetic screenings if there are none."

    def add_arguments(self, parser):
        parser.add_argument("--screenings", type=int, default=DEMO_SCREENINGS)

    def handle(self, *args, screenings, **options):
        call_command("loaddata", "fixtures/demo.json", verbosity=0)
        Client.objects.fill_search_keys()  # loaddata saves raw, around Client.save()
        self.stdout.write("Demo users: clinician, admin, auditor (password in README.md).")
        if not Screening.objects.exists() and screenings > 0:
            call_command("generate_screenings", screenings, seed=7, days=120, stdout=self.stdout)
