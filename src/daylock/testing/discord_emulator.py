"""Placeholder until the emulator lands (issue 3): mounts nothing."""

from __future__ import annotations

from django.urls import URLPattern


def django_mount() -> list[URLPattern]:
    return []
