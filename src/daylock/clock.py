"""``now()`` for all domain code.

In environments whose policy allows it (staging, development) the clock can be moved
— for the whole environment or for one user — by the test utilities. The override is
an *offset* stored in the database, so the web server, the worker and every command
agree and time keeps flowing from the moved instant.

In production :func:`now` returns wall time before it ever looks at an override:
the code that reads overrides (database or cache) is not reachable there, whatever
rows the database holds.

Reading overrides costs a query on every page, so where the cache is shared by every
process (Redis) each scope's offset is also kept there, tagged with a *generation*:
a random token that every committed write of :class:`~daylock.core.models.ClockOverride`
replaces (:func:`overrides_changed`, connected to the model's save and delete signals
by :func:`watch_overrides`). An entry whose generation is not the current one is a
miss and is read again from the database. Because a reader reads the generation
*before* the database, an entry written from a read that raced a write carries the old
generation and is never used. Entries also expire after :data:`CACHE_TTL_SECONDS`, a
backstop for writes that bypass the ORM (raw SQL); ``daylock reset`` wipes them with
the rest of the environment's keys. With a per-process cache (LocMemCache, the
development default without Redis) nothing is cached: a CLI command in another process
must see the web server's overrides at once. Inside a transaction the database is
read directly too, so a transaction sees its own uncommitted writes and never puts
them where other processes would read them.
"""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from daylock import config

ENVIRONMENT_SCOPE = "environment"
#: How long a cached offset may live at most (bounds staleness after a raw-SQL write).
CACHE_TTL_SECONDS = 60
_GENERATION_KEY = "clock:overrides:generation"

#: What is known about each scope: its offset, or None when it has no override.
Offsets = dict[str, timedelta | None]

#: Per-request memo of offsets, so one page reads overrides at most once.
_memo: contextvars.ContextVar[Offsets | None] = contextvars.ContextVar(
    "daylock_clock_memo", default=None
)


USER_SCOPE_PREFIX = "user:"


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
        return _load(scopes)
    missing = [scope for scope in scopes if scope not in memo]
    if missing:
        memo.update(_load(missing))
    return memo


def _shared_cache() -> BaseCache | None:
    """The default cache if every process sees the same one, else None."""
    cache = caches["default"]
    return None if isinstance(cache, LocMemCache | DummyCache) else cache


def _entry_key(scope: str) -> str:
    return f"clock:override:{scope}"


def _load(scopes: list[str]) -> Offsets:
    shared = _shared_cache()
    if shared is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return _read_database(scopes)
    got = shared.get_many([_GENERATION_KEY, *map(_entry_key, scopes)])
    generation = got.get(_GENERATION_KEY)
    if generation is None:
        # First use, or wiped (reset): start a generation; whoever adds first wins.
        shared.add(_GENERATION_KEY, secrets.token_hex(8), timeout=None)
        generation = shared.get(_GENERATION_KEY)
    else:
        entries: list[tuple[str, timedelta | None]] = [
            got.get(_entry_key(scope), ("", None)) for scope in scopes
        ]
        if all(entry[0] == generation for entry in entries):
            return {scope: entry[1] for scope, entry in zip(scopes, entries, strict=True)}
    found = _read_database(scopes)
    if generation is not None:
        shared.set_many(
            {_entry_key(scope): (generation, found[scope]) for scope in scopes},
            timeout=CACHE_TTL_SECONDS,
        )
    return found


def _read_database(scopes: list[str]) -> Offsets:
    from daylock.core.models import ClockOverride

    rows = ClockOverride.objects.filter(scope__in=scopes).values_list("scope", "offset")
    found: Offsets = dict.fromkeys(scopes)
    found.update(rows)
    return found


def overrides_changed(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Make every process re-read the overrides once the current transaction commits
    (and this request at once).

    Connected to every ORM save and delete of ``ClockOverride`` (:func:`watch_overrides`);
    call it yourself after writing overrides in another way (``update()``, raw SQL).
    """
    if not config.policy().clock_override:
        return
    memo = _memo.get()
    if memo is not None:
        memo.clear()  # the rest of this request sees the write too
    shared = _shared_cache()
    if shared is not None:
        transaction.on_commit(
            lambda: shared.set(_GENERATION_KEY, secrets.token_hex(8), timeout=None), using=using
        )


def _on_override_written(sender: Any, *, using: str, **kwargs: Any) -> None:
    overrides_changed(using=using)


def watch_overrides() -> None:
    """Connect :func:`overrides_changed` to ``ClockOverride`` saves and deletes
    (called once per process by the core app's ``ready()``)."""
    from django.db.models.signals import post_delete, post_save

    from daylock.core.models import ClockOverride

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
