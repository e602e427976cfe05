"""Every page as every role — and as a user with no role, an inactive user and a visitor — with every form
posted with awkward values (tests/crawl.py): no answer is a 5xx."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.crawl import AWKWARD, Crawl
from tests.factories import PASSWORD, UserFactory, make_screening

pytestmark = pytest.mark.django_db


def _fetcher(client: Client):
    def fetch(method: str, path: str, data: dict | None) -> tuple[int, str]:
        response = client.post(path, data, follow=True) if method == "POST" else client.get(path, follow=True)
        if response.streaming:
            b"".join(response.streaming_content)
            return response.status_code, ""
        return response.status_code, response.content.decode("utf-8", "replace")

    return fetch


@pytest.fixture
def records():
    clinician = UserFactory(username="crawl-clin", role="clinician")
    make_screening(clinician=clinician)  # signed
    make_screening(clinician=clinician, status="completed", final_level="inpatient")
    make_screening(clinician=clinician, status="draft")
    return clinician


@pytest.mark.parametrize("who", ["clinician", "admin", "auditor", "superuser", "no role", "inactive", "visitor"])
def test_no_page_or_form_answers_5xx(records, who):
    client = Client()
    if who == "superuser":
        client.force_login(get_user_model().objects.create_superuser("crawl-op", "op@example.org", PASSWORD))
    elif who in ("no role", "inactive"):
        client.force_login(UserFactory(username=f"crawl-{who[:2]}", role=None, is_active=who != "inactive"))
    elif who != "visitor":
        client.force_login(records if who == "clinician" else UserFactory(username=f"crawl-{who}", role=who))
    crawl = Crawl(_fetcher(client), max_pages=80)

    bad = crawl.run("/admin/" if who == "superuser" else "/")

    assert bad == []
    assert len(crawl.statuses) > (1 if who in ("no role", "inactive", "visitor") else len(AWKWARD))
