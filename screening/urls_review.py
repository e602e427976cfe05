"""Admin review pages (issue 4). Screenings are addressed by their UUID, never a record number or name."""

from django.urls import path

from .views import review

urlpatterns = [
    path("history/", review.history, name="history"),
    path("screenings/<uuid:public_id>/", review.review_screening, name="review_screening"),
    path("dashboard/", review.dashboard, name="dashboard"),
    path("replay/", review.replay, name="replay"),
]
