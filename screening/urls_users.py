"""User management (admins) and every user's own password: Django's password views at their usual addresses."""

from django.urls import path

from .views import users

urlpatterns = [
    path("users/", users.user_list, name="user_list"),
    path("users/new/", users.user_create, name="user_create"),
    path("users/<int:pk>/", users.user_detail, name="user_detail"),
    path("accounts/password_change/", users.password_change, name="password_change"),
    path("accounts/password_change/done/", users.password_change_done, name="password_change_done"),
    path("accounts/password_reset/", users.password_reset, name="password_reset"),
    path("accounts/password_reset/done/", users.password_reset_done, name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", users.password_reset_confirm, name="password_reset_confirm"),
    path("accounts/reset/done/", users.password_reset_complete, name="password_reset_complete"),
]
