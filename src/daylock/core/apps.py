from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "daylock.core"
    label = "core"
    verbose_name = "Daylock core (environment stamp, clock, audit log)"

    def ready(self) -> None:
        from daylock import clock
        from daylock.core import checks  # noqa: F401 - registers the system checks

        clock.watch_overrides()  # every ORM write of an override invalidates the cache
