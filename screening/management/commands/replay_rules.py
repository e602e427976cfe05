"""`manage.py replay_rules --since DATE --until DATE [--version V] [--json]`: what-if replay of the completed and
signed screenings started in those days (inclusive, program time zone) under a registered rule set version.
Stored rows are never modified. Exit status 2 on bad input. The same replay as the web's background job
(`replay.run`); `--workers N` evaluates in N worker processes.
"""

import datetime as dt
import json
import os

from django.core.management.base import BaseCommand, CommandError

from screening import replay, rules
from screening.selectors import day_start


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}", returncode=2) from None


class Command(BaseCommand):
    help = "Re-evaluate stored answers under a rule set version; report how many recommendations would change."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The interface is `--version V` (a rule set); it replaces Django's --version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--until", required=True, help="last day, YYYY-MM-DD (inclusive)")
        parser.add_argument(
            "--version",
            dest="rules_version",
            default=rules.RULES_VERSION,
            help=f"rule set version (registered: {', '.join(rules.RULE_SETS)})",
        )
        parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="worker processes that evaluate the pages (default: one per core); 1 evaluates in this process",
        )
        parser.add_argument("--limit", type=int, default=100, help="changed screenings to list (default 100)")

    def handle(self, *args, since, until, rules_version, as_json: bool, limit: int, workers: int, **options):
        start, end = iso_date(since), iso_date(until)
        if end < start:
            raise CommandError("--until is before --since", returncode=2)
        if rules_version not in rules.RULE_SETS:
            raise CommandError(
                f"unknown rule set version {rules_version!r}; registered: {', '.join(rules.RULE_SETS)}", returncode=2
            )
        if limit < 0:
            raise CommandError("--limit must be 0 or more", returncode=2)
        if workers < 1:
            raise CommandError("--workers must be at least 1", returncode=2)
        since_at, until_at = day_start(start), day_start(end + dt.timedelta(days=1))
        queryset = replay.in_range(since_at, until_at)
        result = replay.run(queryset, rules_version, keep=limit, processes=workers if workers > 1 else 0)
        if as_json:
            payload = {"since": start.isoformat(), "until": end.isoformat(), **result.to_json()}
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
            return
        self.stdout.write(
            f"Replayed {result.total} screenings from {start} to {end} under rule set {rules_version}: "
            f"{result.changed} would change, {result.unchanged} unchanged"
            + (f", {result.unreadable} unreadable" if result.unreadable else "")
            + "."
        )
        self.stdout.write("stored → replayed:")
        for level, counts, total in result.matrix_rows():
            cells = ", ".join(f"{to} {n}" for to, n in zip(replay.LEVELS, counts, strict=True))
            self.stdout.write(f"  {level:<12} {cells} (of {total})")
        for c in result.changes:
            decided = f", decided {c.final_level}" if c.final_level else ", not decided yet"
            self.stdout.write(f"  {c.public_id}  {c.created_at:%Y-%m-%d}  {c.from_level} → {c.to_level}{decided}")
            for r in c.removed:
                self.stdout.write(f"      − {r.code}: {r.text}")
            for r in c.added:
                self.stdout.write(f"      + {r.code}: {r.text}")
