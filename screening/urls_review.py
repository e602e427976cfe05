"""Admin review pages (issue 4). Screenings are addressed by their UUID, never a record number or name."""

from django.urls import path

from .views import replay, review

urlpatterns = [
    path("history/", review.history, name="history"),
    path("screenings/<uuid:public_id>/", review.review_screening, name="review_screening"),
    path("dashboard/", review.dashboard, name="dashboard"),
    path("replay/", replay.replay, name="replay"),
    path("replay/<uuid:public_id>/", replay.replay_job, name="replay_job"),
    path("replay/<uuid:public_id>/progress/", replay.replay_progress, name="replay_progress"),
]
