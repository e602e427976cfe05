"""`manage.py verify_audit`: check the whole hash chain; exit 0 when intact, 1 naming the first broken event.
The result is appended to the log as a `verify` event, which the auditor page shows."""

import argparse
import getpass
import os
import sys

from django.core.management.base import BaseCommand

from screening import audit


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


class Command(BaseCommand):
    help = "Verify the audit trail's HMAC hash chain; exit status 1 names the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--no-record", action="store_true", help="do not append the result to the log")
        parser.add_argument(
            "--workers",
            type=positive_int,
            default=min(4, os.cpu_count() or 1),
            help="processes that check spans of the chain at once (PostgreSQL; default: cores, at most 4)",
        )

    def handle(self, *args, no_record, workers, **options):
        if no_record:
            result = audit.verify(workers=workers)
        else:
            result = audit.verify_and_record(
                actor_username=f"{getpass.getuser()} (command line)", via="command", workers=workers
            )
        if result.ok:
            self.stdout.write(f"Audit trail intact: {result.checked} events checked.")
            return
        self.stderr.write(
            f"Audit trail BROKEN at event #{result.first_broken_id}: {result.problem}. "
            f"{result.checked} events before it are intact."
        )
        sys.exit(1)
