"""Admin review pages (issue 4). Placeholder views until that issue lands: they refuse everyone."""

from django.core.exceptions import PermissionDenied
from django.urls import path


def _not_built(request, *args, **kwargs):
    raise PermissionDenied


urlpatterns = [
    path("history/", _not_built, name="history"),
    path("dashboard/", _not_built, name="dashboard"),
    path("replay/", _not_built, name="replay"),
]
