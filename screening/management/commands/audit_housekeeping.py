"""`manage.py audit_housekeeping [--append FILE] [--every N]`: run on a schedule (cron, a systemd timer;
docs/audit.md). Signs a checkpoint of the audit chain when N or more events (default 10,000) were added since
the latest one, or there is none. The latest one is the file's with --append (so the file keeps up even when
exports add stored checkpoints), else the table's. With several app servers, one host runs it with --append."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from screening import anchors
from screening.management.commands.audit_anchor import make_checkpoint
from screening.management.commands.verify_audit import positive_int
from screening.models import AuditAnchor

EVERY = 10_000


def latest_event(append: Path | None) -> int | None:
    """The event of the latest checkpoint: the file's with `append` (None if it has none yet), else the table's."""
    if append is None:
        return AuditAnchor.objects.order_by("-id").values_list("event_id", flat=True).first()
    try:
        checkpoints = anchors.read_file(append)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CommandError(f"--append {append} cannot be read: {e.strerror or e}", returncode=2) from e
    except anchors.CheckpointFileError as e:
        raise CommandError(f"--append {append}: {e}", returncode=2) from e
    return checkpoints[-1]["event"] if checkpoints else None


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit chain when --every N events (default 10,000) were added since the last."

    def add_arguments(self, parser):
        parser.add_argument(
            "--append", type=Path, metavar="FILE", help="also append the checkpoint to FILE (outside the database)"
        )
        parser.add_argument(
            "--every",
            type=positive_int,
            default=EVERY,
            metavar="N",
            help=f"make one when N or more events were added since the latest (default {EVERY:,})",
        )

    def handle(self, *args, append, every, **options):
        event_id = latest_event(append)
        if event_id is not None:
            added = anchors.events_after(event_id)
            if added < every:
                self.stdout.write(f"Not due: {added:,} events since the latest checkpoint (one every {every:,}).")
                return
        make_checkpoint(self, append)
