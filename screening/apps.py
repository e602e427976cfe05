from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "IOP Screening"

    def ready(self):
        from . import signals  # noqa: F401  (sign-in audit events)
