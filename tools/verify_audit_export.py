#!/usr/bin/env python3
"""Check an IOP Screening audit-log export with the public key alone (DESIGN.md §7, docs/audit.md).

    python3 verify_audit_export.py audit-log-20261201-1a2b3c4d.jsonl --public-key BASE64

For an export of a contiguous range (dates only: no actor, action or client filter), in JSON Lines or CSV:

- each event's prev_hash is the hash of the event before it (the first may link to an earlier event,
  which is outside the file);
- each checkpoint's Ed25519 signature verifies with the public key, over the text the program signs;
- each checkpoint names an event present in the file, with that event's hash, and the difference between
  two checkpoints' lengths is the number of events between them.

It cannot recompute the events' HMACs (that needs the program's secret key, which is never handed out), so it
does not check an event's fields against its hash: a field changed in the file with the hashes left alone passes
here (`manage.py verify_audit` on the database finds it). What it shows is that the hashes form one unbroken
chain, that the program signed them at its checkpoints, and that no event was removed, added or reordered
between them. Exit 0: every check passed; 1: a check failed (each failure is printed); 2: the file cannot be
checked (unreadable, or filtered).

Needs Python 3.9+ and the `cryptography` package only; no part of the program.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADER = "iop-screening audit checkpoint v1"  # screening.anchors.HEADER
CHECKPOINT_FIELDS = ("length", "event", "hash", "at", "key_id", "signature")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # CSV cells the program escaped with an apostrophe


class Unreadable(Exception):
    """The file is not an audit-log export this checker can read."""


def message(*, length: int, event_id: int, event_hash: str, at: str) -> bytes:
    """The signed text, exactly as screening.anchors.message makes it."""
    return f"{HEADER}\nlength={length}\nevent={event_id}\nhash={event_hash}\nat={at}\n".encode()


def key_id(public: bytes) -> str:
    """The first 8 bytes of the public key's SHA-256, in hex."""
    return hashlib.sha256(public).hexdigest()[:16]


def _unescape(cell: str) -> str:
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_START else cell


def _jsonl(f) -> Iterator[dict]:
    for n, line in enumerate(f, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise Unreadable(f"line {n} is not JSON: {e}") from None


def _csv(f) -> Iterator[dict]:
    reader = csv.DictReader(f)
    if not reader.fieldnames or "record_type" not in reader.fieldnames:
        raise Unreadable("no record_type column in the CSV header")
    for row in reader:
        kind = row.get("record_type")
        if kind == "notice":
            yield {"record_type": "notice", **json.loads(row["details"])}
        elif kind == "event":
            rec = {name: _unescape(row[name] or "") for name in ("sequence", "prev_hash", "hash", "at")}
            yield {"record_type": "event", **rec, "sequence": int(rec["sequence"])}
        elif kind == "checkpoint":
            rec = {name: _unescape(row[f"checkpoint_{name}"] or "") for name in CHECKPOINT_FIELDS}
            yield {"record_type": "checkpoint", **rec, "length": int(rec["length"]), "event": int(rec["event"])}
        else:
            raise Unreadable(f"row {reader.line_num}: unknown record_type {kind!r}")


def records(path: str) -> Iterator[dict]:
    """The export's records in file order, read as they come (a file of millions of events is never held whole);
    the notice first."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            start = f.read(1)
            f.seek(0)
            first = True
            for rec in _jsonl(f) if start == "{" else _csv(f):
                if first and rec.get("record_type") != "notice":
                    raise Unreadable("the export's notice does not come first")
                first = False
                yield rec
            if first:
                raise Unreadable("the file is empty")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise Unreadable(str(e)) from None


def signature_holds(checkpoint: dict, public: bytes) -> bool:
    signed = message(
        length=checkpoint["length"], event_id=checkpoint["event"], event_hash=checkpoint["hash"], at=checkpoint["at"]
    )
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(checkpoint["signature"]), signed)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


@dataclass
class Result:
    notice: dict
    events: int = 0
    first: int | None = None
    last: int | None = None
    checkpoints: int = 0
    failures: list[str] = field(default_factory=list)


def check(path: str, public: bytes) -> Result:
    """Read the file twice: its notice and checkpoints (few), then its events, keeping only the hashes and
    positions of the events the checkpoints name."""
    notice, checkpoints = None, []
    for rec in records(path):
        kind = rec.get("record_type")
        if kind == "notice":
            notice = rec
        elif kind == "checkpoint":
            checkpoints.append(rec)
        elif kind != "event":
            raise Unreadable(f"unknown record_type {kind!r}")
    result = Result(notice, checkpoints=len(checkpoints))
    if not notice.get("contiguous"):
        return result
    failures = result.failures
    named = {c["event"] for c in checkpoints}
    seen: dict[int, tuple[str, int]] = {}  # a named event's hash, and how many events the file has up to it
    prev_hash, last = None, 0  # the event before: its hash and sequence number
    for rec in records(path):
        if rec.get("record_type") != "event":
            continue
        seq = rec["sequence"]
        if prev_hash is not None and rec["prev_hash"] != prev_hash:
            failures.append(f"event #{seq}: prev_hash is not the hash of the event before it (#{last})")
        if prev_hash is not None and seq <= last:
            failures.append(f"event #{seq}: out of order (after #{last})")
        prev_hash, last = rec["hash"], seq
        result.events += 1
        result.first = seq if result.first is None else result.first
        if seq in named:
            seen[seq] = (rec["hash"], result.events)
    result.last = last if result.events else None
    expected_key, before = key_id(public), None  # before: the last checkpoint whose event is in the file
    for c in checkpoints:
        where = f"checkpoint of event #{c['event']} (length {c['length']})"
        if c["key_id"] != expected_key:
            failures.append(f"{where}: signed by key {c['key_id']}, not by this public key ({expected_key})")
        elif not signature_holds(c, public):
            failures.append(f"{where}: the signature does not verify")
        if c["event"] not in seen:
            failures.append(f"{where}: its event is not in the file")
            continue
        event_hash, position = seen[c["event"]]
        if event_hash != c["hash"]:
            failures.append(f"{where}: its hash is not the hash of event #{c['event']} in the file")
        elif before is not None and c["length"] - before[0] != position - before[1]:
            failures.append(
                f"{where}: {c['length'] - before[0]} events since the previous checkpoint, "
                f"but the file has {position - before[1]}"
            )
        before = (c["length"], position)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the export (.jsonl or .csv)")
    parser.add_argument("--public-key", required=True, help="the program's public key: base64 of 32 bytes")
    args = parser.parse_args(argv)
    try:
        public = base64.b64decode(args.public_key, validate=True)
        Ed25519PublicKey.from_public_bytes(public)
    except (binascii.Error, ValueError):
        parser.error("--public-key: not base64 of a 32-byte Ed25519 public key")
    try:
        result = check(args.file, public)
    except Unreadable as e:
        print(f"{args.file}: cannot check: {e}", file=sys.stderr)
        return 2
    notice = result.notice
    if not notice.get("contiguous"):
        print(
            f"{args.file}: cannot check: filtered by {notice.get('filters')}, so events are missing between the rows; "
            "export a date range only",
            file=sys.stderr,
        )
        return 2
    print(f"export {notice.get('export_id')}, filters {json.dumps(notice.get('filters'), sort_keys=True)}")
    span = f"#{result.first} to #{result.last}" if result.events else "none"
    print(f"events: {result.events} ({span}); checkpoints: {result.checkpoints}; public key id {key_id(public)}")
    print("checked: each event's prev_hash is the hash of the event before it (the first links outside the file)")
    print(
        "checked: each checkpoint's Ed25519 signature, its event and hash in the file, and lengths between checkpoints"
    )
    print("not checked: the events' HMACs (they need the program's secret key, which is never handed out)")
    if not result.checkpoints:
        print("warning: no checkpoint in the file, so nothing here is signed")
    for failure in result.failures:
        print(f"FAILED: {failure}")
    print("FAILED" if result.failures else "OK: the export holds together and its checkpoints are signed by this key")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
