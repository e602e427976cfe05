"""`manage.py verify_audit [--anchor FILE]`: check the whole hash chain; exit 0 when intact, 1 naming the first
broken event. With `--anchor FILE`, every signed checkpoint of that file and of the anchors table must then hold
(signed by a known key, still in the chain), or exit 1 names the first that does not: deleting the newest events,
or emptying the table, is caught there. The result is appended to the log as a `verify` event, which the
auditor page shows."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from screening import anchors, audit


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


class Command(BaseCommand):
    help = (
        "Verify the audit trail's HMAC hash chain (and, with --anchor FILE, its signed checkpoints); "
        "exit status 1 names the first broken event or checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-record", action="store_true", help="do not append the result to the log")
        parser.add_argument(
            "--workers",
            type=positive_int,
            default=min(4, os.cpu_count() or 1),
            help="processes that check spans of the chain at once (PostgreSQL; default: cores, at most 4)",
        )
        parser.add_argument(
            "--anchor",
            type=Path,
            metavar="FILE",
            help="an anchor file (audit_anchor --append): each of its checkpoints, and the stored ones, must hold",
        )

    def handle(self, *args, no_record, workers, anchor, **options):
        checkpoints, unreadable = [], ""
        if anchor is not None:
            try:
                checkpoints = anchors.read_file(anchor)
            except anchors.CheckpointFileError as e:
                unreadable = str(e)  # a failed verification (exit 1), reported after the chain's own check
            except OSError as e:
                raise CommandError(f"--anchor {anchor} cannot be read: {e.strerror or e}", returncode=2) from e
        result = audit.verify(workers=workers)
        problem, held = None, ""
        if result.ok and anchor is not None:
            stored = anchors.stored()
            if unreadable:
                problem = anchors.Problem({"event": None}, unreadable)
            else:
                where = f"in {anchor}"
                problem = anchors.first_problem(checkpoints, where=where) or anchors.first_problem(
                    stored, where="stored"
                )
            if problem is not None:
                result = audit.Verification(False, result.checked, problem.event_id, problem.text)
            else:
                held = (
                    f"Checkpoints hold: {len(checkpoints):,} in {anchor} and {len(stored):,} stored, each signed "
                    "by a known key and still in the chain."
                )
        if not no_record:
            audit.record_verification(
                result,
                actor_username=f"{getpass.getuser()} (command line)",
                via="command",
                **({"anchor_file": str(anchor)} if anchor is not None else {}),
            )
        if result.ok:
            self.stdout.write(f"Audit trail intact: {result.checked} events checked.")
            if held:
                self.stdout.write(held)
            return
        if problem is not None:
            self.stderr.write(
                f"Audit trail BROKEN: {problem.text}. "
                f"What is left of the chain links up: {result.checked} events checked."
            )
        else:
            self.stderr.write(
                f"Audit trail BROKEN at event #{result.first_broken_id}: {result.problem}. "
                f"{result.checked} events before it are intact."
            )
        sys.exit(1)
