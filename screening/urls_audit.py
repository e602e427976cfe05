"""Auditor pages (issue 5). Placeholder views until that issue lands: they refuse everyone."""

from django.core.exceptions import PermissionDenied
from django.urls import path


def _not_built(request, *args, **kwargs):
    raise PermissionDenied


urlpatterns = [
    path("exports/", _not_built, name="export"),
    path("log/", _not_built, name="audit_log"),
]
