from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

admin.site.site_header = "IOP Screening administration"
admin.site.site_title = "IOP Screening admin"


def favicon(request):
    """Browsers that ask for /favicon.ico without reading a page's icon link get the app's icon (no 404)."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("screening.urls")),
]
