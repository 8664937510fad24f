from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "daylock.events"
    label = "events"
