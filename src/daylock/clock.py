"""``now()`` for all domain code.

In environments whose policy allows it (staging, development) the clock can be moved
— for the whole environment or for one user — by the test utilities. The override is
an *offset* stored in the database, so the web server, the worker and every command
agree and time keeps flowing from the moved instant.

In production :func:`now` returns wall time before it ever looks at an override:
the code that reads overrides is not reachable there, whatever rows the database holds.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from daylock import config

ENVIRONMENT_SCOPE = "environment"

#: Per-request memo of offsets, so one page reads the override table at most once.
_memo: contextvars.ContextVar[dict[int | None, timedelta] | None] = contextvars.ContextVar(
    "daylock_clock_memo", default=None
)


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def now(*, user_id: int | None = None) -> datetime:
    """The current instant for domain decisions (time locks, entry windows, draws)."""
    wall = timezone.now()
    if not config.policy().clock_override:
        return wall
    return wall + _offset(user_id)


def _offset(user_id: int | None) -> timedelta:
    memo = _memo.get()
    if memo is not None and user_id in memo:
        return memo[user_id]
    from daylock.core.models import ClockOverride

    scopes = [ENVIRONMENT_SCOPE] + ([user_scope(user_id)] if user_id is not None else [])
    found = dict(ClockOverride.objects.filter(scope__in=scopes).values_list("scope", "offset"))
    offset = found.get(user_scope(user_id) if user_id is not None else "")
    if offset is None:
        offset = found.get(ENVIRONMENT_SCOPE, timedelta(0))
    if memo is not None:
        memo[user_id] = offset
    return offset


@dataclass(frozen=True)
class ActiveOverride:
    scope: str
    moved_to: datetime
    offset: timedelta


def active_override(*, user_id: int | None = None) -> ActiveOverride | None:
    """The override in force for this user (or the environment), for the banner."""
    if not config.policy().clock_override:
        return None
    offset = _offset(user_id)
    if not offset:
        return None
    from daylock.core.models import ClockOverride

    scope = ENVIRONMENT_SCOPE
    if user_id is not None and ClockOverride.objects.filter(scope=user_scope(user_id)).exists():
        scope = user_scope(user_id)
    return ActiveOverride(scope=scope, moved_to=timezone.now() + offset, offset=offset)


@contextmanager
def request_scope() -> Iterator[None]:
    """Memoise overrides for the duration of one request (see ``ClockMiddleware``)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)
