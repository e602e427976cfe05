"""`manage.py data_dictionary [--format csv|json] [--output FILE]`: the exports' data dictionary.

One row per exported column, generated from the answer map (screening.dictionary). Bad arguments
exit with status 2 naming the option.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from screening import dictionary


class Command(BaseCommand):
    help = "Write the exports' data dictionary: one row per exported column (CSV in REDCap's shape, or JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--format", default="csv", choices=dictionary.FORMATS, help="csv (default) or json")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, format, output, **options):
        text = dictionary.as_csv() if format == "csv" else dictionary.as_json()
        if not output:
            sys.stdout.write(text)
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                out.write(text)
        except OSError as e:
            raise CommandError(f"--output: cannot write {output}: {e.strerror}", returncode=2) from None
        self.stderr.write(f"Wrote {len(dictionary.entries())} columns to {output}.")
