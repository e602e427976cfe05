import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_page_is_accessible_and_signs_in(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    page.goto(reverse("login"))
    assert_accessible(page)
    screenshot(page, "sign-in")

    sign_in("clinician")

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Welcome, clinician")).to_be_visible()
    assert_accessible(page)


def test_wrong_password_stays_on_sign_in_with_error(page, sign_in):
    UserFactory(username="clinician", role="clinician")

    sign_in("clinician", "not-the-password")

    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
