"""Running tests in-process under another configuration (everything reads
``config.current()`` at call time, so overriding ``settings.DAYLOCK`` is enough)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.test import override_settings

from daylock.config import DeliveryMode, Environment


def config_override(**changes: Any) -> override_settings:
    """``settings.DAYLOCK`` with some fields replaced."""
    return override_settings(DAYLOCK=dataclasses.replace(settings.DAYLOCK, **changes))


def production() -> override_settings:
    """Run as production (with live delivery, the only mode production allows)."""
    return config_override(app_env=Environment.PRODUCTION, discord_delivery=DeliveryMode.LIVE)
