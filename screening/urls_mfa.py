"""Second factor (DESIGN.md §11), under accounts/mfa/: every page here is open to a signed-in user who has
not passed it yet (`screening.mfa.MfaMiddleware` exempts the prefix)."""

from django.urls import path

from .views import mfa

urlpatterns = [
    path("setup/", mfa.setup, name="mfa_setup"),
    path("verify/", mfa.verify, name="mfa_verify"),
]
