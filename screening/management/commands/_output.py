"""What the export commands share: the date check, the output opened before anything starts, the bytes written."""

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterator

from django.core.management.base import CommandError


def iso_date(value: str) -> dt.date:
    """An argparse type: a YYYY-MM-DD date, or exit 2 naming the option."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: use YYYY-MM-DD") from None


def write_export(*, since, until, output: str | None, stream: Callable[[], Iterator[bytes]]) -> None:
    """Check the dates and open `output` (standard output by default) first — a bad one exits 2 naming the option
    before any export is started or audited — then write every piece `stream()` yields."""
    if since and until and until < since:
        raise CommandError("--until must be on or after --since", returncode=2)
    try:
        out = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115 (closed below)
    except OSError as e:
        raise CommandError(f"--output: cannot write {output}: {e.strerror}", returncode=2) from None
    try:
        for piece in stream():
            out.write(piece)
        out.flush()
    finally:
        if output:
            out.close()
