"""Per-user limit on answer attempts, kept in the cache (Redis outside development).

At most :data:`MAX_ATTEMPTS` unsolved attempts per user, day and tier in a window of
:data:`WINDOW_SECONDS` that starts at the first attempt. A correct answer ends the
attempts (later submissions are "already solved" and not counted), so in practice this
is "at most 10 wrong answers per 10 minutes".

The counter is atomic: ``cache.add`` creates it (only the first of concurrent requests
succeeds) and ``cache.incr`` is a single Redis ``INCR``, so parallel requests can never
all slip under the limit. The window uses wall time, not the domain clock: it limits
how fast requests arrive, whatever day the clock was moved to.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache

MAX_ATTEMPTS = 10
WINDOW_SECONDS = 600
#: The day page warns after a wrong answer that leaves this many attempts or fewer.
WARN_AT_ATTEMPTS_LEFT = 3


@dataclass(frozen=True)
class Decision:
    allowed: bool
    attempts: int
    retry_after_seconds: int

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))

    @property
    def attempts_left(self) -> int:
        """Attempts still allowed in this window after this one."""
        return max(0, MAX_ATTEMPTS - self.attempts)


def _keys(user_id: int, day_id: int, tier: str) -> tuple[str, str]:
    base = f"events:attempts:{user_id}:{day_id}:{tier}"
    return base + ":count", base + ":start"


def attempt(*, user_id: int, day_id: int, tier: str, now: float | None = None) -> Decision:
    """Count one attempt and say whether it may be checked."""
    at = time.time() if now is None else now
    count_key, start_key = _keys(user_id, day_id, tier)
    cache.add(start_key, at, timeout=WINDOW_SECONDS)
    cache.add(count_key, 0, timeout=WINDOW_SECONDS)
    try:
        count = cache.incr(count_key)
    except ValueError:  # expired between add and incr: this attempt opens a new window
        cache.add(count_key, 1, timeout=WINDOW_SECONDS)
        count = 1
    started = cache.get(start_key, at)
    retry_after = max(0, math.ceil(float(started) + WINDOW_SECONDS - at))
    return Decision(allowed=count <= MAX_ATTEMPTS, attempts=count, retry_after_seconds=retry_after)


def reset(*, user_id: int, day_id: int, tier: str) -> None:
    cache.delete_many(list(_keys(user_id, day_id, tier)))
