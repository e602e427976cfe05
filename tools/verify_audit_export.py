#!/usr/bin/env python3
"""Check an IOP Screening audit-log export with the public key alone (DESIGN.md §7, docs/audit.md).

    python3 verify_audit_export.py audit-log-20261201-1a2b3c4d.jsonl --public-key BASE64

For an export of a contiguous range (dates only: no actor, action or client filter), in JSON Lines or CSV:

- each event's prev_hash is the hash of the event before it (the first may link to an earlier event,
  which is outside the file);
- each checkpoint's Ed25519 signature verifies with the public key, over the text the program signs;
- each checkpoint names an event present in the file, with that event's hash, and the difference between
  two checkpoints' lengths is the number of events between them.

It cannot recompute the events' HMACs (that needs the program's secret key, which is never handed out), so
it cannot tell that an event's content was changed together with its hash and every later link: a signed
checkpoint after that event can (its hash would no longer be the event's). Exit 0: every check passed;
1: a check failed (each failure is printed); 2: the file cannot be checked.

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


def read_jsonl(f) -> tuple[dict, list[dict]]:
    records = []
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise Unreadable(f"line {n} is not JSON: {e}") from None
    if not records or records[0].get("record_type") != "notice":
        raise Unreadable("the first line is not the export's notice")
    return records[0], records[1:]


def read_csv(f) -> tuple[dict, list[dict]]:
    reader = csv.DictReader(f)
    if not reader.fieldnames or "record_type" not in reader.fieldnames:
        raise Unreadable("no record_type column in the CSV header")
    notice, records = None, []
    for row in reader:
        kind = row.get("record_type")
        if kind == "notice":
            notice = json.loads(row["details"])
        elif kind == "event":
            rec = {name: _unescape(row[name] or "") for name in ("sequence", "prev_hash", "hash", "at")}
            rec["sequence"] = int(rec["sequence"])
            records.append({"record_type": "event", **rec})
        elif kind == "checkpoint":
            rec = {name: _unescape(row[f"checkpoint_{name}"] or "") for name in CHECKPOINT_FIELDS}
            rec["length"], rec["event"] = int(rec["length"]), int(rec["event"])
            records.append({"record_type": "checkpoint", **rec})
        else:
            raise Unreadable(f"row {reader.line_num}: unknown record_type {kind!r}")
    if notice is None:
        raise Unreadable("no notice row (record_type notice)")
    return notice, records


def read(path: str) -> tuple[dict, list[dict]]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            start = f.read(1)
            f.seek(0)
            return read_jsonl(f) if start == "{" else read_csv(f)
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


def check(notice: dict, records: list[dict], public: bytes) -> list[str]:
    """Every failure found, in file order; none means the export holds together."""
    failures: list[str] = []
    expected_key = key_id(public)
    prev_hash, last_seq = None, 0  # the hash and sequence of the event before, once there is one
    hashes: dict[int, str] = {}
    count = 0  # events so far in the file
    last_checkpoint = None  # (length, events in the file up to it)
    for rec in records:
        kind = rec.get("record_type")
        if kind == "event":
            seq = rec["sequence"]
            if prev_hash is not None and rec["prev_hash"] != prev_hash:
                failures.append(f"event #{seq}: prev_hash is not the hash of the event before it (#{last_seq})")
            if prev_hash is not None and seq <= last_seq:
                failures.append(f"event #{seq}: out of order (after #{last_seq})")
            prev_hash, last_seq = rec["hash"], seq
            hashes[seq] = rec["hash"]
            count += 1
        elif kind == "checkpoint":
            where = f"checkpoint of event #{rec['event']} (length {rec['length']})"
            if rec["key_id"] != expected_key:
                failures.append(f"{where}: signed by key {rec['key_id']}, not by this public key ({expected_key})")
            elif not signature_holds(rec, public):
                failures.append(f"{where}: the signature does not verify")
            if rec["event"] not in hashes:
                failures.append(f"{where}: its event is not in the file before it")
            elif hashes[rec["event"]] != rec["hash"]:
                failures.append(f"{where}: its hash is not the hash of event #{rec['event']} in the file")
            elif last_checkpoint is not None and rec["length"] - last_checkpoint[0] != count - last_checkpoint[1]:
                failures.append(
                    f"{where}: {rec['length'] - last_checkpoint[0]} events since the previous checkpoint, "
                    f"but the file has {count - last_checkpoint[1]}"
                )
            if rec["event"] in hashes:
                last_checkpoint = (rec["length"], count)
        else:
            failures.append(f"unknown record_type {kind!r}")
    return failures


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
        notice, records = read(args.file)
    except Unreadable as e:
        print(f"{args.file}: cannot check: {e}", file=sys.stderr)
        return 2
    if not notice.get("contiguous"):
        print(
            f"{args.file}: cannot check: filtered by {notice.get('filters')}, so events are missing between the rows; "
            "export a date range only",
            file=sys.stderr,
        )
        return 2
    events = [r for r in records if r.get("record_type") == "event"]
    checkpoints = [r for r in records if r.get("record_type") == "checkpoint"]
    print(f"export {notice.get('export_id')}, filters {json.dumps(notice.get('filters'), sort_keys=True)}")
    span = f"#{events[0]['sequence']} to #{events[-1]['sequence']}" if events else "none"
    print(f"events: {len(events)} ({span}); checkpoints: {len(checkpoints)}; public key id {key_id(public)}")
    failures = check(notice, records, public)
    print("checked: each event's prev_hash is the hash of the event before it (the first links outside the file)")
    print(
        "checked: each checkpoint's Ed25519 signature, its event and hash in the file, and lengths between checkpoints"
    )
    print("not checked: the events' HMACs (they need the program's secret key, which is never handed out)")
    if not checkpoints:
        print("warning: no checkpoint in the file, so nothing here is signed")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("FAILED" if failures else "OK: the export holds together and its checkpoints are signed by this key")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
