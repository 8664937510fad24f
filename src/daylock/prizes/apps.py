from django.apps import AppConfig


class PrizesConfig(AppConfig):
    name = "daylock.prizes"
    label = "prizes"
