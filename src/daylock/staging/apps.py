from django.apps import AppConfig


class StagingConfig(AppConfig):
    name = "daylock.staging"
    label = "staging"
