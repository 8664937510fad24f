"""``now()`` for all domain code.

In environments whose policy allows it (staging, development) the clock can be moved
— for the whole environment or for one user — by the test utilities. The override is
an *offset* stored in the database, so the web server, the worker and every command
agree and time keeps flowing from the moved instant.

In production :func:`now` returns wall time before it ever looks at an override:
the code that reads overrides is not reachable there, whatever rows the database holds.

Elsewhere a request reads the override table at most once: one indexed query for the
environment's scope and the user's, kept for the rest of the request by
``ClockMiddleware`` (:func:`request_scope`). Every ORM write of an override clears
what the current request kept, so the rest of that request sees the write.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from daylock import config
from daylock.core.models import ClockOverride

ENVIRONMENT_SCOPE = "environment"
USER_SCOPE_PREFIX = "user:"

#: What is known about each scope: its offset, or None when it has no override.
Offsets = dict[str, timedelta | None]

#: Per-request memo of offsets, so one page reads overrides at most once.
_memo: contextvars.ContextVar[Offsets | None] = contextvars.ContextVar(
    "daylock_clock_memo", default=None
)


def user_scope(user_id: int) -> str:
    return f"{USER_SCOPE_PREFIX}{user_id}"


def now(*, user_id: int | None = None) -> datetime:
    """The current instant for domain decisions (time locks, entry windows, draws)."""
    wall = timezone.now()
    if not config.policy().clock_override:
        return wall
    return wall + _offset(user_id)


def _offset(user_id: int | None) -> timedelta:
    found = _overrides(user_id)
    if user_id is not None:
        own = found.get(user_scope(user_id))
        if own is not None:
            return own
    return found.get(ENVIRONMENT_SCOPE) or timedelta(0)


def _overrides(user_id: int | None) -> Offsets:
    scopes = [ENVIRONMENT_SCOPE] + ([user_scope(user_id)] if user_id is not None else [])
    memo = _memo.get()
    if memo is None:
        return _read(scopes)
    missing = [scope for scope in scopes if scope not in memo]
    if missing:
        memo.update(_read(missing))
    return memo


def _read(scopes: list[str]) -> Offsets:
    rows = ClockOverride.objects.filter(scope__in=scopes).values_list("scope", "offset")
    found: Offsets = dict.fromkeys(scopes)
    found.update(rows)
    return found


def overrides_changed() -> None:
    """Forget what this request read of the overrides, so its rest sees a write.

    Connected to every ORM save and delete of ``ClockOverride`` (:func:`watch_overrides`);
    call it yourself after writing overrides in another way (``update()``, raw SQL).
    """
    memo = _memo.get()
    if memo is not None:
        memo.clear()


def _on_override_written(sender: Any, **kwargs: Any) -> None:
    overrides_changed()


def watch_overrides() -> None:
    """Connect :func:`overrides_changed` to ``ClockOverride`` saves and deletes
    (called once per process by the core app's ``ready()``)."""
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_on_override_written, sender=ClockOverride, dispatch_uid="daylock.clock.save")
    post_delete.connect(
        _on_override_written, sender=ClockOverride, dispatch_uid="daylock.clock.delete"
    )


@dataclass(frozen=True)
class ActiveOverride:
    scope: str
    moved_to: datetime
    offset: timedelta


def active_override(*, user_id: int | None = None) -> ActiveOverride | None:
    """The override in force for this user (or the environment), for the banner.
    Reuses what :func:`now` read in this request: no further reads."""
    if not config.policy().clock_override:
        return None
    found = _overrides(user_id)
    scope = ENVIRONMENT_SCOPE
    if user_id is not None and found.get(user_scope(user_id)) is not None:
        scope = user_scope(user_id)
    offset = found.get(scope)
    if not offset:
        return None
    return ActiveOverride(scope=scope, moved_to=timezone.now() + offset, offset=offset)


@contextmanager
def request_scope() -> Iterator[None]:
    """Memoise overrides for the duration of one request (see ``ClockMiddleware``)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)
