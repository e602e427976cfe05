"""`manage.py audit_anchor [--append FILE]`: sign a checkpoint of the audit chain now (its length and latest hash,
DESIGN.md §7), store it in the anchors table and, with --append, add it to FILE as one JSON line. Prints the
checkpoint; exit 2 naming --append when the file cannot be written (then nothing is stored either).
`--public-key` prints the key id and public key that check the signatures (to publish), and signs nothing."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from screening import anchors


def make_checkpoint(command: BaseCommand, append: Path | None) -> None:
    """Make, store (and append) a checkpoint and print it: shared with audit_housekeeping."""
    try:
        anchor = anchors.checkpoint(append=append)
    except OSError as e:
        raise CommandError(f"--append {append} cannot be written: {e.strerror or e}", returncode=2) from e
    if anchor is None:
        command.stdout.write("The audit trail is empty: no checkpoint made.")
        return
    checkpoint = anchors.as_dict(anchor)
    where = f"stored and appended to {append}" if append is not None else "stored"
    command.stdout.write(f"Signed the {anchors.describe(checkpoint)}, key {anchor.key_id}; {where}.")
    command.stdout.write(json.dumps(checkpoint, sort_keys=True))


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit chain now; store it, and with --append FILE also add it to the file."

    def add_arguments(self, parser):
        parser.add_argument(
            "--append", type=Path, metavar="FILE", help="also append the checkpoint to FILE (outside the database)"
        )
        parser.add_argument(
            "--public-key", action="store_true", help="print the key id and the public key (base64); sign nothing"
        )

    def handle(self, *args, append, public_key, **options):
        if public_key:
            self.stdout.write(f"key id {anchors.public_key_id()}")
            self.stdout.write(f"public key (Ed25519, base64) {anchors.public_key_b64()}")
            return
        make_checkpoint(self, append)
