"""Django admin, for superusers (operators) only: screenings, clients and audit events are read-only there
(tests/test_trust.py shows the app's admins are refused)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from screening import audit
from screening.models import AuditEvent
from tests.factories import PASSWORD, make_screening


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "op@example.org", PASSWORD)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def test_admin_site_operator_can_add_user_and_set_group(operator_client):
    clinician_group = Group.objects.get(name="clinician")

    created = operator_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newclin",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
            "usable_password": "true",
        },
    )
    user = get_user_model().objects.get(username="newclin")
    change = operator_client.get(reverse("admin:auth_user_change", args=[user.pk]))

    assert created.status_code == 302
    assert change.status_code == 200
    assert "groups" in change.context["adminform"].form.fields
    assert clinician_group in change.context["adminform"].form.fields["groups"].queryset


@pytest.mark.parametrize("model", ["screening", "client", "auditevent"])
def test_admin_site_records_are_read_only(operator_client, db, model):
    s = make_screening()
    obj = {"screening": s, "client": s.client, "auditevent": None}[model]
    if obj is None:
        obj = audit.record(action=AuditEvent.Action.VIEW, object_type="test")

    changelist = operator_client.get(reverse(f"admin:screening_{model}_changelist"))
    add = operator_client.get(reverse(f"admin:screening_{model}_add"))
    change = operator_client.get(reverse(f"admin:screening_{model}_change", args=[obj.pk]))
    delete = operator_client.post(reverse(f"admin:screening_{model}_delete", args=[obj.pk]), {"post": "yes"})

    assert changelist.status_code == 200
    assert add.status_code == 403
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert delete.status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_admin_site_viewing_a_screening_is_audited(operator_client, operator, db):
    s = make_screening()

    operator_client.get(reverse("admin:screening_screening_change", args=[s.pk]))

    event = AuditEvent.objects.get(object_type="screening", object_id=str(s.public_id), action="view")
    assert event.actor == operator
    assert event.details == {"via": "admin"}


def test_admin_site_screening_changelist_filters(operator_client, db):
    make_screening()
    inpatient = make_screening(ciwa_ar=12, pawss=None)

    response = operator_client.get(reverse("admin:screening_screening_changelist"), {"recommended_level": "inpatient"})

    assert [s.pk for s in response.context["cl"].result_list] == [inpatient.pk]


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_admin_site_closed_to_other_roles(request, who):
    response = request.getfixturevalue(who).get(reverse("admin:screening_screening_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", ["screening", "client"])
def test_admin_site_has_no_search_box_for_names(operator_client, db, model):
    response = operator_client.get(reverse(f"admin:screening_{model}_changelist"))

    assert response.context["cl"].search_fields == ()
