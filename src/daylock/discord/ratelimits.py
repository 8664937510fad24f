"""What every worker of one bot must agree on before it talks to Discord.

Discord counts per bot, not per process: 50 requests per second in all, each route's
bucket, the deadline a global 429 set, the ban that too many invalid requests earn, a
token Discord refused. Two workers that each keep their own counts send 100 requests
per second and walk into every 429 the other one learned about. So these facts live in
one place for the whole environment:

* :class:`RedisLimits`: in the environment's own Redis (keys under the cache's
  ``daylock:<env>:`` prefix, then ``discord:<bot fingerprint>:``), read and written by
  Lua scripts so that "may I send?" and "count it" are one atomic step for every worker;
* :class:`LocalLimits`: the same rules in this process only, for the development
  default without Redis (which sends nothing: capture) and for unit tests.

Nothing here sleeps or talks to Discord: :meth:`Limits.acquire` answers "go" (and counts
the request) or "wait this long, because…", and the client decides what to do.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Discord's global limit is 50 requests per second per bot.
GLOBAL_RATE_LIMIT = 50
#: The window the global limit is counted over, with a margin so that requests that
#: leave 50 to a window cannot *arrive* 51 to a second (scheduling, network jitter).
GLOBAL_RATE_WINDOW = 1.1
#: A bucket whose reset time moved forward by more than this is a new window (its count
#: restarts); within one window the lowest ``remaining`` anyone heard wins.
_NEW_WINDOW_TOLERANCE = 0.2
#: How long a DM channel id is remembered (Discord keeps one per bot and user for ever).
DM_CHANNEL_TTL = 24 * 3600


@dataclass(frozen=True)
class Wait:
    """Not now: ``seconds`` to wait, and why ("paused", "banned", "global" for a global
    429's deadline, "route:<route>" for a held route, "bucket", "global-limit" for the
    50-per-second log)."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class Pause:
    """Delivery stopped by Discord refusing the token (401), until staff resume it."""

    since: float
    detail: str

    @property
    def since_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))

    def to_json(self) -> str:
        return json.dumps({"since": self.since, "detail": self.detail})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Pause:
        data = json.loads(raw)
        return cls(float(data["since"]), str(data["detail"]))


class Limits(Protocol):
    """The shared facts; every method is safe to call from many threads and processes."""

    def acquire(self, *, bucket: str, holds: Sequence[str]) -> Wait | None: ...

    def learn(self, *, bucket: str, remaining: int, reset_after: float) -> None: ...

    def hold(self, *, name: str, seconds: float) -> None: ...

    def held(self, *, name: str) -> float: ...

    def pause(self, *, detail: str) -> Pause: ...

    def paused(self) -> Pause | None: ...

    def resume(self) -> bool: ...

    def claim_probe(self, *, every: float) -> bool: ...

    def dm_channel(self, *, recipient: str) -> str | None: ...

    def remember_dm_channel(self, *, recipient: str, channel: str) -> None: ...

    def forget_dm_channel(self, *, recipient: str) -> None: ...

    def forget(self) -> None: ...


def fingerprint(*, token: str, api_base: str) -> str:
    """Names one bot at one API without carrying its token (keys, staff pages, logs)."""
    return hashlib.sha256(f"{api_base}\n{token}".encode()).hexdigest()[:16]


# --------------------------------------------------------------------- in this process


class LocalLimits:
    """The rules of :class:`RedisLimits` for one process (no Redis: development, tests)."""

    def __init__(
        self,
        *,
        global_limit: int = GLOBAL_RATE_LIMIT,
        global_window: float = GLOBAL_RATE_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.global_limit = global_limit
        self.global_window = global_window
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque()
        self._buckets: dict[str, tuple[int, float]] = {}
        self._holds: dict[str, float] = {}
        self._pause: Pause | None = None
        self._probe_at = 0.0
        self._dm: dict[str, str] = {}

    def acquire(self, *, bucket: str, holds: Sequence[str]) -> Wait | None:
        with self._lock:
            now = self._clock()
            if self._pause is not None:
                return Wait(0.0, "paused")
            longest = max(
                ((self._holds.get(name, 0.0) - now, name) for name in holds), default=(0.0, "")
            )
            if longest[0] > 0:
                return Wait(longest[0], longest[1])
            known = self._buckets.get(bucket)
            take = False
            if known is not None and known[1] > now:
                if known[0] <= 0:
                    return Wait(known[1] - now, "bucket")
                take = True
            while self._sent and now - self._sent[0] >= self.global_window:
                self._sent.popleft()
            if len(self._sent) >= self.global_limit:
                return Wait(self.global_window - (now - self._sent[0]), "global-limit")
            self._sent.append(now)
            if take and known is not None:
                self._buckets[bucket] = (known[0] - 1, known[1])
            return None

    def learn(self, *, bucket: str, remaining: int, reset_after: float) -> None:
        with self._lock:
            now = self._clock()
            reset_at = now + reset_after
            known = self._buckets.get(bucket)
            if (
                known is not None
                and known[1] > now
                and reset_at <= known[1] + _NEW_WINDOW_TOLERANCE
            ):
                remaining, reset_at = min(remaining, known[0]), max(reset_at, known[1])
            self._buckets[bucket] = (remaining, reset_at)

    def hold(self, *, name: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._holds[name] = max(self._holds.get(name, 0.0), until)

    def held(self, *, name: str) -> float:
        with self._lock:
            return max(self._holds.get(name, 0.0) - self._clock(), 0.0)

    def pause(self, *, detail: str) -> Pause:
        with self._lock:
            if self._pause is None:
                self._pause = Pause(self._clock(), detail)
                self._probe_at = 0.0
            return self._pause

    def paused(self) -> Pause | None:
        with self._lock:
            return self._pause

    def resume(self) -> bool:
        with self._lock:
            was, self._pause = self._pause, None
            return was is not None

    def claim_probe(self, *, every: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._pause is None or now < max(self._probe_at, self._pause.since + every):
                return False
            self._probe_at = now + every
            return True

    def dm_channel(self, *, recipient: str) -> str | None:
        with self._lock:
            return self._dm.get(recipient)

    def remember_dm_channel(self, *, recipient: str, channel: str) -> None:
        with self._lock:
            self._dm[recipient] = channel

    def forget_dm_channel(self, *, recipient: str) -> None:
        with self._lock:
            self._dm.pop(recipient, None)

    def forget(self) -> None:
        with self._lock:
            self._sent.clear()
            self._buckets.clear()
            self._holds.clear()
            self._pause = None
            self._dm.clear()


# --------------------------------------------------------------------- in Redis

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('EXISTS', KEYS[4]) == 1 then return {'paused', '0'} end
local wait, why = 0, ''
for i = 4, #ARGV do
  local untl = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if untl - now > wait then wait = untl - now; why = ARGV[i] end
end
if wait > 0 then return {why, tostring(wait)} end
local b = redis.call('HMGET', KEYS[3], 'remaining', 'reset_at')
local remaining, reset = tonumber(b[1]), tonumber(b[2])
local take = false
if reset and reset > now then
  if remaining <= 0 then return {'bucket', tostring(reset - now)} end
  take = true
end
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'global-limit', tostring(tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
if take then redis.call('HINCRBY', KEYS[3], 'remaining', -1) end
return {'', '0'}
"""

_LEARN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local remaining, reset = tonumber(ARGV[1]), now + tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'remaining', 'reset_at')
local old_remaining, old_reset = tonumber(b[1]), tonumber(b[2])
if old_reset and old_reset > now and reset <= old_reset + tonumber(ARGV[3]) then
  remaining = math.min(remaining, old_remaining)
  reset = math.max(reset, old_reset)
end
redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset_at', tostring(reset))
redis.call('PEXPIRE', KEYS[1], math.ceil((reset - now) * 1000) + 60000)
return 1
"""

_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if untl > old then redis.call('HSET', KEYS[1], ARGV[1], tostring(untl)) end
local ttl = redis.call('PTTL', KEYS[1])
local want = math.ceil(tonumber(ARGV[2]) * 1000) + 60000
if ttl < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1
"""

_HELD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
return tostring(math.max(untl - now, 0))
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('SET', KEYS[1], string.format('{"since": %.6f, "detail": %s}', now, ARGV[1]), 'NX')
redis.call('DEL', KEYS[2])
return redis.call('GET', KEYS[1])
"""


class RedisLimits:
    """The shared facts in the environment's Redis (see the module docstring)."""

    def __init__(
        self,
        *,
        redis_url: str,
        prefix: str,
        global_limit: int = GLOBAL_RATE_LIMIT,
        global_window: float = GLOBAL_RATE_WINDOW,
    ) -> None:
        import redis

        self.prefix = prefix.rstrip(":") + ":"
        self.global_limit = global_limit
        self.global_window = global_window
        self._redis = redis.Redis.from_url(redis_url)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._learn = self._redis.register_script(_LEARN)
        self._hold = self._redis.register_script(_HOLD)
        self._held = self._redis.register_script(_HELD)
        self._pause = self._redis.register_script(_PAUSE)

    def _key(self, name: str) -> str:
        return self.prefix + name

    def acquire(self, *, bucket: str, holds: Sequence[str]) -> Wait | None:
        keys = [
            self._key("global"),
            self._key("holds"),
            self._key(f"bucket:{bucket}"),
            self._key("pause"),
        ]
        member = f"{time.time():.6f}:{os.urandom(6).hex()}"
        raw = self._acquire(keys=keys, args=[self.global_limit, self.global_window, member, *holds])
        reason, seconds = (_text(item) for item in raw)
        if not reason:
            return None
        return Wait(float(seconds), reason)

    def learn(self, *, bucket: str, remaining: int, reset_after: float) -> None:
        self._learn(
            keys=[self._key(f"bucket:{bucket}")],
            args=[remaining, reset_after, _NEW_WINDOW_TOLERANCE],
        )

    def hold(self, *, name: str, seconds: float) -> None:
        self._hold(keys=[self._key("holds")], args=[name, seconds])

    def held(self, *, name: str) -> float:
        return float(_text(self._held(keys=[self._key("holds")], args=[name])))

    def pause(self, *, detail: str) -> Pause:
        raw = self._pause(keys=[self._key("pause"), self._key("probe")], args=[json.dumps(detail)])
        return Pause.from_json(raw)

    def paused(self) -> Pause | None:
        raw = self._redis.get(self._key("pause"))
        return Pause.from_json(raw) if raw else None

    def resume(self) -> bool:
        return bool(self._redis.delete(self._key("pause")))

    def claim_probe(self, *, every: float) -> bool:
        pause = self.paused()
        if pause is None or time.time() < pause.since + every:
            return False
        return bool(self._redis.set(self._key("probe"), "1", nx=True, px=int(every * 1000)))

    def dm_channel(self, *, recipient: str) -> str | None:
        raw = self._redis.get(self._key(f"dm:{recipient}"))
        return _text(raw) if raw else None

    def remember_dm_channel(self, *, recipient: str, channel: str) -> None:
        self._redis.set(self._key(f"dm:{recipient}"), channel, ex=DM_CHANNEL_TTL)

    def forget_dm_channel(self, *, recipient: str) -> None:
        self._redis.delete(self._key(f"dm:{recipient}"))

    def forget(self) -> None:
        """Drop every key of this bot (tests; a reset drops them with the environment)."""
        keys = list(self._redis.scan_iter(match=self.prefix + "*", count=500))
        if keys:
            self._redis.delete(*keys)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
