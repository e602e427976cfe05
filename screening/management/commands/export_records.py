"""`manage.py export_records --format csv|jsonl|fhir [--deidentified] [--since DATE] [--until DATE] [--output FILE]`.

The same streaming export as the auditor page (screening.exports), written to stdout or a file,
and logged in the audit trail like any export. Bad arguments exit with status 2 naming the option.
"""

import getpass

from django.core.management.base import BaseCommand

from screening import exports

from ._output import iso_date, write_export


class Command(BaseCommand):
    help = "Export completed and signed screenings (CSV, JSON Lines or a FHIR R4 Bundle); logged as an audit event."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=sorted(exports.FORMATS), help="output format")
        parser.add_argument("--deidentified", action="store_true", help="HIPAA Safe Harbor de-identification")
        parser.add_argument("--since", type=iso_date, help="first screening date included (YYYY-MM-DD)")
        parser.add_argument("--until", type=iso_date, help="last screening date included (YYYY-MM-DD)")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, format, deidentified, since, until, output, **options):
        runner = exports.ExportRunner(
            fmt=format,
            deidentified=deidentified,
            filters=exports.ExportFilters(since=since, until=until),
            actor_username=f"{getpass.getuser()} (command line)",
            via="command",
        )
        write_export(since=since, until=until, output=output, stream=runner.stream)
        d = runner.event.details
        self.stderr.write(
            f"Exported {d['rows']} screenings ({d['bytes']} bytes, sha256 {d['sha256']}); "
            f"audit event #{runner.event.pk}."
        )
