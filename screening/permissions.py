"""Roles (DESIGN.md §6) are groups; pages check permissions, never group names."""

from __future__ import annotations

CLINICIAN, ADMIN, AUDITOR = "clinician", "admin", "auditor"


def _perms(app_label: str, codenames: str) -> tuple[tuple[str, str], ...]:
    return tuple((app_label, codename) for codename in codenames.split())


# Permissions each role holds: (app_label, codename).
ROLE_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    CLINICIAN: _perms(
        "screening", "view_client add_client view_screening add_screening change_screening sign_screening"
    ),
    # User management is the app's own page (manage_users), never the Django admin's user forms, which offer
    # superuser status, groups and permissions (an admin could make themselves superuser). edit_crosswalk: the
    # payer level codes (screening.payer).
    ADMIN: _perms("screening", "view_client view_screening review_history view_auditevent manage_users edit_crosswalk"),
    AUDITOR: _perms("screening", "export_records view_auditevent verify_audit"),
}


def roles_of(user) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_role_cache"):
        user._role_cache = frozenset(user.groups.values_list("name", flat=True))
    return user._role_cache


def ensure_roles(group_model, permission_model, *, missing_ok: bool = False) -> None:
    """Create or refresh the role groups with exactly their permissions (used by the data migrations).

    `missing_ok`: an early migration, run before a later one made a permission, sets what exists then."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        found = [permission_model.objects.filter(content_type__app_label=a, codename=c).first() for a, c in perms]
        if None in found and not missing_ok:
            raise LookupError(f"role {role}: a permission of {perms} does not exist")
        group.permissions.set([p for p in found if p is not None])
