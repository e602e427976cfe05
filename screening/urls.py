from django.contrib.auth import views as auth_views
from django.urls import include, path

from .forms import SignInForm
from .views import clinician

urlpatterns = [
    path("", clinician.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("review/", include("screening.urls_review")),
    path("audit/", include("screening.urls_audit")),
]
