from django.contrib.auth import views as auth_views
from django.urls import include, path

from .forms import SignInForm
from .views import clinician, handover, health, payer

sign_in = auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True)

urlpatterns = [
    path("", clinician.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", sign_in, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/", include("screening.urls_mfa")),
    path("", include("screening.urls_users")),
    path("clients/", clinician.client_list, name="client_list"),
    path("clients/new/", clinician.client_create, name="client_create"),
    path("clients/<uuid:public_id>/", clinician.client_detail, name="client_detail"),
    path("clients/<uuid:public_id>/screenings/new/", clinician.screening_start, name="screening_start"),
    path("screenings/<uuid:public_id>/", clinician.screening_detail, name="screening_detail"),
    path("screenings/<uuid:public_id>/edit/", clinician.screening_edit, name="screening_edit"),
    path("screenings/<uuid:public_id>/autosave/", clinician.screening_autosave, name="screening_autosave"),
    path("screenings/<uuid:public_id>/kept/discard/", clinician.screening_kept_discard, name="screening_kept_discard"),
    path("session/keep-alive/", clinician.session_keep_alive, name="session_keep_alive"),
    path("screenings/<uuid:public_id>/decide/", clinician.screening_decide, name="screening_decide"),
    path("screenings/<uuid:public_id>/reopen/", clinician.screening_reopen, name="screening_reopen"),
    path("screenings/<uuid:public_id>/sign/", clinician.screening_sign, name="screening_sign"),
    path("screenings/<uuid:public_id>/amend/", clinician.screening_amend, name="screening_amend"),
    path("screenings/<uuid:public_id>/payer-summary/", payer.payer_summary, name="payer_summary"),
    # The patient hand-over (issue 14, item 7): no screening in these addresses; the session knows it.
    path("screenings/<uuid:public_id>/handover/", handover.handover_start, name="screening_handover_start"),
    path("handover/", handover.handover, name="handover"),
    path("handover/save/", handover.handover_save, name="handover_save"),
    path("handover/return/", handover.handover_return, name="handover_return"),
    path("review/crosswalk/", payer.crosswalk, name="crosswalk"),
    path("review/", include("screening.urls_review")),
    path("audit/", include("screening.urls_audit")),
]
