"""Django admin: admins manage users and groups; screenings, clients and audit events are read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from screening import audit
from screening.models import AuditEvent
from tests.factories import make_screening


def test_admin_site_admin_can_add_user_and_set_group(admin_client_):
    clinician_group = Group.objects.get(name="clinician")

    created = admin_client_.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newclin",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
            "usable_password": "true",
        },
    )
    user = get_user_model().objects.get(username="newclin")
    change = admin_client_.get(reverse("admin:auth_user_change", args=[user.pk]))

    assert created.status_code == 302
    assert change.status_code == 200
    assert "groups" in change.context["adminform"].form.fields
    assert clinician_group in change.context["adminform"].form.fields["groups"].queryset


@pytest.mark.parametrize("model", ["screening", "client", "auditevent"])
def test_admin_site_records_are_read_only(admin_client_, db, model):
    s = make_screening()
    obj = {"screening": s, "client": s.client, "auditevent": None}[model]
    if obj is None:
        obj = audit.record(action=AuditEvent.Action.VIEW, object_type="test")

    changelist = admin_client_.get(reverse(f"admin:screening_{model}_changelist"))
    add = admin_client_.get(reverse(f"admin:screening_{model}_add"))
    change = admin_client_.get(reverse(f"admin:screening_{model}_change", args=[obj.pk]))
    delete = admin_client_.post(reverse(f"admin:screening_{model}_delete", args=[obj.pk]), {"post": "yes"})

    assert changelist.status_code == 200
    assert add.status_code == 403
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert delete.status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_admin_site_viewing_a_screening_is_audited(admin_client_, admin_user, db):
    s = make_screening()

    admin_client_.get(reverse("admin:screening_screening_change", args=[s.pk]))

    event = AuditEvent.objects.get(object_type="screening", object_id=str(s.public_id), action="view")
    assert event.actor == admin_user
    assert event.details == {"via": "admin"}


def test_admin_site_screening_changelist_filters(admin_client_, db):
    make_screening()
    inpatient = make_screening(ciwa_ar=12, pawss=None)

    response = admin_client_.get(reverse("admin:screening_screening_changelist"), {"recommended_level": "inpatient"})

    assert [s.pk for s in response.context["cl"].result_list] == [inpatient.pk]


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_admin_site_closed_to_other_roles(request, who):
    response = request.getfixturevalue(who).get(reverse("admin:screening_screening_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", ["screening", "client"])
def test_admin_site_has_no_search_box_for_names(admin_client_, db, model):
    response = admin_client_.get(reverse(f"admin:screening_{model}_changelist"))

    assert response.context["cl"].search_fields == ()
