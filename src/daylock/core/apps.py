from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "daylock.core"
    label = "core"
    verbose_name = "Daylock core (environment stamp, clock, audit log)"
