from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "IOP Screening"

    def ready(self):
        from . import rollups, signals  # noqa: F401  (signals: sign-in audit events)

        # A migration that remakes the screening table on SQLite drops the dashboard roll-up's triggers.
        post_migrate.connect(rollups.keep_triggers, sender=self, dispatch_uid="screening.rollups.keep_triggers")
