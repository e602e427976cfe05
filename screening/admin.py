"""Django admin, for superusers (operators) only (DESIGN.md §6): admins manage users on the app's own page,
since the admin's user forms offer superuser status, groups and permissions. Clinical records and the audit
log are registered read-only, and what it shows of clients is audited as on the app's pages."""

from django.contrib import admin

from . import audit
from .middleware import audit_context
from .models import AuditEvent, Client, Screening


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = _superusers_only


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing is added, changed or deleted through the admin: records change only through services."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ViewAuditedAdmin(ReadOnlyAdmin):
    """Opening a record here is a view of it: an audit event, as on the app's own pages."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id)
        if obj is not None and response.status_code == 200:
            context = audit_context(request)
            audit.record(
                action=AuditEvent.Action.VIEW, actor=request.user, context=context, obj=obj, details={"via": "admin"}
            )
        return response


@admin.register(Client)
class ClientAdmin(ViewAuditedAdmin):
    list_display = ("record_number", "family_name", "given_name", "created_at")
    # No search_fields here or on screenings: the admin searches by GET, which would put names and
    # record numbers in the address. The History page searches by POST.

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # names and record numbers shown: a view of those clients
            details = {"clients": [str(c.public_id) for c in changelist.result_list], "via": "admin"}
            audit.record(
                action=AuditEvent.Action.VIEW,
                actor=request.user,
                context=audit_context(request),
                object_type="client_list",
                details=details,
            )
        return response


_DECISION_COLUMNS = ("recommended_level", "final_level", "decision", "override_reason", "rules_version")
_FLAG_FILTERS = ("flag_emergency_referral", "flag_safety_review", "flag_detox_first")


@admin.register(Screening)
class ScreeningAdmin(ViewAuditedAdmin):
    list_display = ("created_at", "client", "clinician", *_DECISION_COLUMNS, "status")
    list_filter = ("status", *_DECISION_COLUMNS, "clinician", *_FLAG_FILTERS)
    list_select_related = ("client", "clinician")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    raw_id_fields = ("client", "clinician", "amends", "decided_by", "signed_by")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "at", "actor_username", "action", "object_type", "object_id", "ip_address")
    list_filter = ("action", "object_type")
    search_fields = ("actor_username", "object_id")
    date_hierarchy = "at"
    ordering = ("-id",)
