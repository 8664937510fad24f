from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from daylock import clock
from daylock.config import Environment
from daylock.core.models import ClockOverride


def move_clock(to: datetime, *, user_id: int | None = None) -> None:
    """Move the environment's (or one user's) clock so that ``clock.now()`` is ``to``
    (plus the few milliseconds until it is read)."""
    scope = clock.user_scope(user_id) if user_id is not None else clock.ENVIRONMENT_SCOPE
    ClockOverride.objects.update_or_create(
        scope=scope, defaults={"offset": to - timezone.now(), "user_id": user_id}
    )


@pytest.fixture
def set_clock() -> Callable[..., None]:
    return move_clock


@contextmanager
def production() -> Iterator[None]:
    """Run as production in-process (everything reads ``config.current()`` at call time)."""
    with override_settings(
        DAYLOCK=dataclasses.replace(settings.DAYLOCK, app_env=Environment.PRODUCTION)
    ):
        yield
