"""Signed checkpoints of the audit chain: made, stored, appended to a file, and checked with the public key."""

import json

import pytest

from screening import anchors, audit
from screening.models import AuditAnchor, AuditEvent

pytestmark = pytest.mark.django_db


def test_a_checkpoint_signs_the_chain_length_and_latest_hash_and_its_signature_holds(tmp_path):
    for _ in range(3):
        audit.record(action=AuditEvent.Action.VIEW, object_type="test")
    path = tmp_path / "anchors.jsonl"

    anchor = anchors.checkpoint(append=path)

    latest = AuditEvent.objects.order_by("-id").first()
    assert (anchor.length, anchor.event_id, anchor.event_hash) == (3, latest.pk, latest.hash)
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == anchors.as_dict(AuditAnchor.objects.get())
    assert anchors.signature_holds(json.loads(line), anchors.known_public_keys())


@pytest.mark.parametrize("field", ["length", "event", "hash", "at", "signature"])
def test_a_changed_checkpoint_does_not_verify(field):
    audit.record(action=AuditEvent.Action.VIEW, object_type="test")
    forged = anchors.as_dict(anchors.checkpoint())
    forged[field] = {"length": 99, "event": 99, "hash": "f" * 64, "at": "2020-01-01T00:00:00+00:00"}.get(
        field, forged["signature"][::-1]
    )

    assert not anchors.signature_holds(forged, anchors.known_public_keys())


def test_an_empty_chain_has_no_checkpoint():
    assert anchors.checkpoint() is None
