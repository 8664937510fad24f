from django.apps import AppConfig


class DiscordConfig(AppConfig):
    name = "daylock.discord"
    label = "discord"
