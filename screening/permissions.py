"""Roles (DESIGN.md §6) are groups; pages check permissions, never group names."""

from __future__ import annotations

CLINICIAN, ADMIN, AUDITOR = "clinician", "admin", "auditor"

# Permissions each role holds: (app_label, codename).
ROLE_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    CLINICIAN: (
        ("screening", "view_client"),
        ("screening", "add_client"),
        ("screening", "view_screening"),
        ("screening", "add_screening"),
        ("screening", "change_screening"),
        ("screening", "sign_screening"),
    ),
    ADMIN: (
        ("screening", "view_client"),
        ("screening", "view_screening"),
        ("screening", "review_history"),
        ("screening", "view_auditevent"),
        ("auth", "view_user"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "view_group"),
    ),
    AUDITOR: (
        ("screening", "export_records"),
        ("screening", "view_auditevent"),
        ("screening", "verify_audit"),
    ),
}


def roles_of(user) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = frozenset(user.groups.values_list("name", flat=True))
        user._role_cache = cache
    return cache


def ensure_roles(group_model, permission_model) -> None:
    """Create or refresh the role groups with exactly their permissions (used by the data migration)."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set(
            [permission_model.objects.get(content_type__app_label=app, codename=code) for app, code in perms]
        )
