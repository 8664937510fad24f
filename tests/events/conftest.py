from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from django.utils import timezone

from daylock import clock
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
