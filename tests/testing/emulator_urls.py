"""A URLconf mounting the in-process emulator the way development does."""

from django.urls import include, path

from daylock import config
from daylock.testing.discord_emulator import django_mount

urlpatterns = [path(config.EMULATOR_MOUNT.strip("/") + "/", include(django_mount()))]
