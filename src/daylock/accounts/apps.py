from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "daylock.accounts"
    label = "accounts"
