"""Rate limits as Discord enforces them: per route bucket, per bot (the global limit),
per resource (the ``shared`` scope) and for opening DMs (40003).

Discord's headers describe each bucket (``X-RateLimit-Limit``, ``-Remaining``,
``-Reset``, ``-Reset-After``, ``-Bucket``); a request on an exhausted bucket answers
429 with ``X-RateLimit-Scope: user`` and does nothing. A bucket is counted per route and
"top-level resource" (the channel or guild id in the path); its ``Bucket`` hash names
the route only, as Discord's does, so a client groups channels by hash plus channel id.
Everything runs on the emulator's clock, under its lock.
"""

from __future__ import annotations

import collections
import hashlib
import re

from daylock.testing.discord_emulator.faults import rate_limited
from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import Response

#: The global limit counts requests over this window (Discord: 50 per second).
GLOBAL_WINDOW = 1.0
_MAJOR = re.compile(r"/(channels|guilds|webhooks)/(\d+)")
_ID = re.compile(r"\d{2,}")


def _keys(bucket: str) -> tuple[str, str]:
    """The counter key (route + top-level resource) and the public bucket hash (route)."""
    major = _MAJOR.search(bucket)
    head = bucket[: major.end()] if major else ""
    counter = head + _ID.sub("{id}", bucket[len(head) :])
    route = _ID.sub("{id}", bucket)
    return counter, hashlib.sha1(route.encode(), usedforsecurity=False).hexdigest()[:16]


def take_bucket(*, state: EmulatorState, bucket: str) -> list[tuple[str, str]] | Response:
    """Count one request against ``bucket``: its headers, or the 429 when it is spent."""
    limit = state.config.rate_limit_per_bucket
    window = state.config.rate_limit_reset_seconds
    counter, bucket_hash = _keys(bucket)
    with state.lock:
        now = state.now()
        reset_at, used = state.store.buckets.get(counter, (now + window, 0))
        if now >= reset_at:
            reset_at, used = now + window, 0
        if used >= limit:
            return rate_limited(
                scope="user", retry_after=reset_at - now, limit=limit, now=now, bucket=bucket_hash
            )
        used += 1
        state.store.buckets[counter] = (reset_at, used)
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(limit - used)),
        ("X-RateLimit-Reset", f"{reset_at:.3f}"),
        ("X-RateLimit-Reset-After", f"{max(reset_at - now, 0):.3f}"),
        ("X-RateLimit-Bucket", bucket_hash),
    ]


def take_global(*, state: EmulatorState, bot_id: str) -> Response | None:
    """Count one request of ``bot_id`` against the global limit; the 429 when over it."""
    limit = state.config.global_rate_limit
    with state.lock:
        now = state.now()
        recent = state.store.recent.setdefault(bot_id, collections.deque())
        while recent and now - recent[0] >= GLOBAL_WINDOW:
            recent.popleft()
        if len(recent) >= limit:
            wait = GLOBAL_WINDOW - (now - recent[0])
            return rate_limited(scope="global", retry_after=wait, limit=limit, now=now, bucket="")
        recent.append(now)
    return None


def take_shared(
    *, state: EmulatorState, channel_id: str, limit: int | None, headers: list[tuple[str, str]]
) -> Response | None:
    """A busy channel's own limit (for everyone together): 429 with scope ``shared``,
    which Discord does not count as an invalid request."""
    if limit is None:
        return None
    window = state.config.rate_limit_reset_seconds
    with state.lock:
        now = state.now()
        key = f"shared:{channel_id}"
        reset_at, used = state.store.buckets.get(key, (now + window, 0))
        if now >= reset_at:
            reset_at, used = now + window, 0
        if used >= limit:
            known = dict(headers)
            return rate_limited(
                scope="shared",
                retry_after=reset_at - now,
                limit=int(known.get("X-RateLimit-Limit", limit)),
                remaining=int(known.get("X-RateLimit-Remaining", 0)),
                now=now,
                bucket=known.get("X-RateLimit-Bucket", ""),
            )
        state.store.buckets[key] = (reset_at, used + 1)
    return None


def take_dm_open(*, state: EmulatorState) -> bool:
    """Count opening a new DM channel; False when the bot opens them too fast (40003)."""
    with state.lock:
        now = state.now()
        opens = state.store.dm_opens
        while opens and now - opens[0] >= state.config.dm_open_window_seconds:
            opens.popleft()
        if len(opens) >= state.config.dm_open_limit:
            return False
        opens.append(now)
    return True
