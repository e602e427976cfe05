from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "IOP Screening administration"
admin.site.site_title = "IOP Screening admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("screening.urls")),
]
