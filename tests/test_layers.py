"""The request stops at the views: below them, code takes an actor and an audit context, never a request."""

import ast
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from screening import audit, services
from screening.middleware import AuditContextMiddleware, audit_context
from screening.models import AuditEvent, Client

APP = Path(__file__).resolve().parents[1] / "screening"
BELOW_THE_VIEWS = sorted(
    p.name
    for p in APP.glob("*.py")
    if p.name not in {"middleware.py", "signals.py", "admin.py", "context_processors.py", "urls.py", "urls_audit.py"}
    and not p.name.startswith("urls")
)


@pytest.mark.parametrize("name", BELOW_THE_VIEWS)
def test_no_request_below_the_views(name):
    tree = ast.parse((APP / name).read_text())

    params = [
        arg.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for arg in (*node.args.args, *node.args.kwonlyargs)
    ]
    imports = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]

    assert "request" not in params
    assert not [m for m in imports if m.startswith("django.http")]


def test_middleware_sets_the_audit_context_once_per_request():
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
    seen = []

    def view(r):
        seen.append(r.audit)
        return HttpResponse()

    response = AuditContextMiddleware(view)(request)

    (ctx,) = seen
    assert ctx.address == "203.0.113.9"
    assert len(ctx.request_id) == 32
    assert audit_context(request) is ctx  # the edge helpers reuse it
    assert response["X-Request-ID"] == ctx.request_id


def test_each_request_gets_its_own_request_id():
    first = audit_context(RequestFactory().get("/"))
    second = audit_context(RequestFactory().get("/"))

    assert first.request_id != second.request_id


def test_service_records_the_address_of_its_context(clinician):
    ctx = audit.AuditContext(address="198.51.100.7", request_id="abc")

    client = services.client_create(
        actor=clinician,
        context=ctx,
        record_number="T-LAYER",
        given_name="Ada",
        family_name="Layer",
        date_of_birth="1980-01-01",
    )

    event = AuditEvent.objects.get(object_id=str(client.public_id))
    assert event.ip_address == "198.51.100.7" and event.actor == clinician


def test_commands_record_no_address(clinician):
    event = audit.record(action=AuditEvent.Action.VIEW, actor=clinician, object_type="test")

    assert event.ip_address is None


def test_view_passes_the_request_address_down(clinician_client):
    clinician_client.post(
        reverse("client_create"),
        {"record_number": "T-EDGE", "given_name": "Bo", "family_name": "Edge", "date_of_birth": "1979-05-05"},
        REMOTE_ADDR="192.0.2.44",
    )

    client = Client.objects.get(record_number="T-EDGE")
    assert AuditEvent.objects.get(object_id=str(client.public_id)).ip_address == "192.0.2.44"


def test_the_request_id_goes_back_on_the_response(client):
    first = client.get(reverse("login"))
    second = client.get(reverse("login"))

    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]
