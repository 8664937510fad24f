"""The bot's REST client: the only code in Daylock that talks to Discord's bot API.

It never decides *whether* something may be sent — that is :mod:`daylock.discord.delivery`,
per message, from the running configuration. It only makes sure that what is sent is
sent politely and at most once:

* every request carries ``Authorization: Bot <token>`` and goes to
  ``config.current().discord_api_base`` (the emulator in development and tests);
* messages carry a nonce with ``enforce_nonce`` so a retried send after a crash is
  deduplicated by Discord, and explicit ``allowed_mentions`` (nothing is parsed from
  the text: no ``@everyone``, no role pings; only listed user ids are mentioned);
* rate limits are honoured per bucket (``X-RateLimit-Remaining`` /
  ``X-RateLimit-Reset-After``), on 429 (``retry_after``, per route or global), and a
  process-wide limiter keeps us under 50 requests in any one-second window (Discord's
  global limit for bots);
* 5xx and network failures are retried with exponential backoff, a bounded number of
  times, then raised as :class:`TransientError`; other 4xx are :class:`PermanentError`;
* a retried POST is the same request again, so it may post twice once Discord's nonce
  window is over: :meth:`DiscordClient.request` takes a ``resend_until`` deadline after
  which it sends nothing more, and a :class:`TransientError` says whether any attempt
  may have reached Discord (``maybe_delivered``) so the outbox knows what it knows.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from daylock import config
from daylock.discord_identity import USER_AGENT

logger = logging.getLogger(__name__)

#: Discord's global limit is 50 requests per second per bot.
GLOBAL_RATE_LIMIT = 50
#: The window the global limiter counts in, with a small margin so that network jitter
#: cannot make the requests *arrive* more than 50 to a second.
GLOBAL_RATE_WINDOW = 1.05
#: Longest rate-limit wait the client sleeps through; longer ones are raised as
#: :class:`RateLimitedError` so the worker retries the job later instead of blocking.
MAX_RATE_LIMIT_WAIT = 30.0
MAX_ATTEMPTS = 4  # per request, for 5xx / network errors
MAX_RATE_LIMITED_RETRIES = 5  # per request, for 429s
BACKOFF_BASE = 0.5  # seconds; doubles per attempt
TIMEOUT = (5.0, 20.0)  # connect, read
NONCE_MAX_LENGTH = 25  # Discord rejects longer nonces

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class DiscordError(Exception):
    """Base of the client's errors; ``str()`` is safe to show to staff (no token)."""


class PermanentError(DiscordError):
    """Discord refused the request (4xx other than 429): retrying will not help."""

    def __init__(self, status: int, code: int | None, message: str, route: str) -> None:
        super().__init__(
            f"{route}: HTTP {status}" + (f" code {code}" if code else "") + f": {message}"
        )
        self.status = status
        self.code = code
        self.route = route


class TransientError(DiscordError):
    """Discord (or the network) failed after our bounded retries: try again later.

    ``maybe_delivered`` is False only when no attempt can have reached Discord (every
    one was refused before connecting, or rate limited); a timeout or a 5xx may have
    been processed, so by default it is True.
    """

    def __init__(self, message: str, *, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class RateLimitedError(TransientError):
    """Asked to wait longer than we are willing to block; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float, *, maybe_delivered: bool = False) -> None:
        super().__init__(message, maybe_delivered=maybe_delivered)
        self.retry_after = retry_after


class GlobalRateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, across all threads.

    A sliding log rather than a token bucket: a bucket of 50 refilling at 50/s allows
    100 requests in one second (a full bucket, then the refill); the log does not.
    """

    def __init__(
        self,
        limit: int = GLOBAL_RATE_LIMIT,
        window: float = GLOBAL_RATE_WINDOW,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it."""
        with self._lock:
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                self._sleep(self.window - (now - self._sent[0]))


#: Shared by every client of this process (the worker's threads included).
PROCESS_LIMITER = GlobalRateLimiter()


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0  # monotonic


# Discord's "major parameters": a route's limit is counted per channel / guild / webhook.
_MAJOR = re.compile(r"^/(channels|guilds|webhooks)/(\d+)")
_ID = re.compile(r"/\d+")


def route_key(method: str, path: str) -> str:
    """``POST /channels/123/messages`` → ``POST /channels/123/messages`` (major id kept),
    ``PUT /guilds/1/members/2/roles/3`` → ``PUT /guilds/1/members/{id}/roles/{id}``.
    The query string is not part of the route: every page of a list shares one bucket."""
    path = path.split("?", 1)[0]
    match = _MAJOR.match(path)
    if match:
        head = match.group(0)
        return f"{method} {head}{_ID.sub('/{id}', path[len(head) :])}"
    return f"{method} {_ID.sub('/{id}', path)}"


class DiscordClient:
    """A Discord bot REST client for one configuration (token and API base)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        api_base: str | None = None,
        session: requests.Session | None = None,
        limiter: GlobalRateLimiter | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        max_attempts: int = MAX_ATTEMPTS,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        backoff_base: float = BACKOFF_BASE,
    ) -> None:
        cfg = config.current()
        self.api_base = (api_base or cfg.discord_api_base).rstrip("/")
        self._token = token or cfg.discord_bot_token
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bot {self._token}", "User-Agent": USER_AGENT}
        )
        self.limiter = limiter or PROCESS_LIMITER
        self._sleep = sleep
        self._clock = clock
        self.max_attempts = max_attempts
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff_base = backoff_base
        self._lock = threading.Lock()
        self._route_bucket: dict[str, str] = {}  # route key -> bucket key
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0

    def __repr__(self) -> str:  # never show the token
        return f"<DiscordClient {self.api_base}>"

    def deadline(self, seconds: float) -> float:
        """The instant ``seconds`` from now on this client's clock (for ``resend_until``)."""
        return self._clock() + seconds

    # --- the four operations Daylock needs -------------------------------------

    def create_message(
        self,
        channel_id: str,
        content: str,
        *,
        nonce: str,
        allowed_mentions: dict[str, Any] | None = None,
        resend_until: float | None = None,
    ) -> dict[str, Any]:
        """Post ``content`` to a channel; returns Discord's message object.

        The nonce with ``enforce_nonce`` makes a repeated call (same nonce, within
        Discord's dedupe window) return the first message instead of posting again.
        ``resend_until`` (on this client's clock) is when that window stops covering
        the message: no attempt is made after it.
        """
        if not nonce or len(nonce) > NONCE_MAX_LENGTH:
            raise ValueError(f"nonce must be 1-{NONCE_MAX_LENGTH} characters, got {nonce!r}")
        body = {
            "content": content,
            "nonce": nonce,
            "enforce_nonce": True,
            "allowed_mentions": allowed_mentions_for(allowed_mentions),
        }
        result = self.request(
            "POST", f"/channels/{channel_id}/messages", json=body, resend_until=resend_until
        )
        assert isinstance(result, dict)
        return result

    def get_channel(self, channel_id: str) -> dict[str, Any]:
        """Discord's channel object (its ``guild_id`` says which server it is in)."""
        result = self.request("GET", f"/channels/{channel_id}")
        assert isinstance(result, dict)
        return result

    def open_dm(self, recipient_id: str) -> str:
        """The id of the DM channel with a user (Discord returns the same one each time)."""
        result = self.request("POST", "/users/@me/channels", json={"recipient_id": recipient_id})
        assert isinstance(result, dict)
        return str(result["id"])

    def add_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        """Grant a role (idempotent on Discord's side)."""
        self.request("PUT", f"/guilds/{guild_id}/members/{user_id}/roles/{role_id}")

    def remove_role(self, guild_id: str, user_id: str, role_id: str) -> None:
        """Take a role away (idempotent on Discord's side)."""
        self.request("DELETE", f"/guilds/{guild_id}/members/{user_id}/roles/{role_id}")

    def guild_members(self, guild_id: str, *, after: str = "0", limit: int = 1000) -> list[Any]:
        """One page of the guild's members (``GET /guilds/{id}/members``), in ascending
        user id: the members whose id is above ``after`` (0 for the first page), at most
        ``limit`` (1 to 1000). The next page is ``after`` = the last id of this one; a page
        shorter than ``limit`` is the last. Needs the bot's Server Members intent."""
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1-1000, got {limit}")
        result = self.request("GET", f"/guilds/{guild_id}/members?limit={limit}&after={after}")
        assert isinstance(result, list)
        return result

    # --- transport ---------------------------------------------------------------

    def request(
        self, method: str, path: str, *, json: Any = None, resend_until: float | None = None
    ) -> Any:
        """One logical request, with rate limits waited out and 5xx retried.

        With ``resend_until`` (this client's clock), no attempt starts after it.
        """
        route = route_key(method, path)
        failures = 0
        rate_limited = 0
        maybe_delivered = False  # may an attempt so far have reached Discord?
        while True:
            try:
                self._wait_for(route)
            except RateLimitedError as exc:
                exc.maybe_delivered = exc.maybe_delivered or maybe_delivered
                raise
            if resend_until is not None and self._clock() >= resend_until:
                raise TransientError(
                    f"{route}: not sent again: past the deadline for a repeat "
                    "(Discord's nonce window)",
                    maybe_delivered=maybe_delivered,
                )
            self.limiter.acquire()
            try:
                response = self.session.request(
                    method, self.api_base + path, json=json, timeout=TIMEOUT
                )
            except requests.RequestException as exc:
                failures += 1
                maybe_delivered = maybe_delivered or not _surely_not_sent(exc)
                if failures >= self.max_attempts:
                    raise TransientError(
                        f"{route}: network error after {failures} attempts: {type(exc).__name__}",
                        maybe_delivered=maybe_delivered,
                    ) from exc
                self._backoff(route, failures, type(exc).__name__)
                continue
            self._learn(route, response)
            status = response.status_code
            if status == 429:
                rate_limited += 1
                retry_after = self._note_429(route, response)
                if retry_after > self.max_rate_limit_wait:
                    raise RateLimitedError(
                        f"{route}: rate limited for {retry_after:.1f}s",
                        retry_after,
                        maybe_delivered=maybe_delivered,
                    )
                if rate_limited > MAX_RATE_LIMITED_RETRIES:
                    raise RateLimitedError(
                        f"{route}: still rate limited after {rate_limited - 1} waits",
                        retry_after,
                        maybe_delivered=maybe_delivered,
                    )
                continue
            if status >= 500:
                failures += 1
                maybe_delivered = True  # Discord may have acted before failing
                if failures >= self.max_attempts:
                    raise TransientError(
                        f"{route}: HTTP {status} after {failures} attempts",
                        maybe_delivered=True,
                    )
                self._backoff(route, failures, f"HTTP {status}")
                continue
            if status >= 400:
                code, message = _error_details(response)
                raise PermanentError(status, code, message, route)
            if status == 204 or not response.content:
                return None
            return response.json()

    def _backoff(self, route: str, failures: int, why: str) -> None:
        delay = self.backoff_base * (2 ** (failures - 1))
        logger.warning("discord %s failed (%s), retrying in %.2fs", route, why, delay)
        self._sleep(delay)

    def _bucket_for(self, route: str) -> _Bucket:
        key = self._route_bucket.get(route, route)
        return self._buckets.setdefault(key, _Bucket())

    def _wait_for(self, route: str) -> None:
        """Sleep while the route's bucket is exhausted or a global limit is in force."""
        while True:
            with self._lock:
                now = self._clock()
                bucket = self._bucket_for(route)
                wait = max(self._global_until - now, 0.0)
                if bucket.remaining == 0 and bucket.reset_at > now:
                    wait = max(wait, bucket.reset_at - now)
                elif bucket.remaining == 0:
                    bucket.remaining = None  # the window has reset
            if wait <= 0:
                return
            if wait > self.max_rate_limit_wait:
                raise RateLimitedError(f"{route}: rate limited for {wait:.1f}s", wait)
            logger.info("discord %s: waiting %.2fs for the rate limit", route, wait)
            self._sleep(wait)

    def _learn(self, route: str, response: requests.Response) -> None:
        """Record the bucket's remaining count and reset time from the headers."""
        headers = response.headers
        bucket_hash = headers.get("X-RateLimit-Bucket")
        remaining = _float(headers.get("X-RateLimit-Remaining"))
        reset_after = _float(headers.get("X-RateLimit-Reset-After"))
        with self._lock:
            if bucket_hash:
                major = _MAJOR.match(route.split(" ", 1)[1])
                key = bucket_hash + (":" + major.group(2) if major else "")
                self._route_bucket[route] = key
            bucket = self._bucket_for(route)
            if remaining is not None:
                bucket.remaining = int(remaining)
            if reset_after is not None:
                bucket.reset_at = self._clock() + reset_after

    def _note_429(self, route: str, response: requests.Response) -> float:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        retry_after = _float(body.get("retry_after"))
        if retry_after is None:
            retry_after = _float(response.headers.get("Retry-After")) or 1.0
        is_global = bool(body.get("global")) or (
            response.headers.get("X-RateLimit-Global", "").lower() == "true"
        )
        with self._lock:
            until = self._clock() + retry_after
            if is_global:
                self._global_until = max(self._global_until, until)
            else:
                bucket = self._bucket_for(route)
                bucket.remaining = 0
                bucket.reset_at = max(bucket.reset_at, until)
        logger.warning(
            "discord %s: 429 (%s), retry after %.2fs",
            route,
            "global" if is_global else "route",
            retry_after,
        )
        return retry_after


def _surely_not_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Discord: no connection was made.

    A read timeout, a connection reset or a broken response may come after Discord
    acted on the request, so they are not.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        return isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)
    return False


def allowed_mentions_for(spec: dict[str, Any] | None) -> dict[str, Any]:
    """Explicit ``allowed_mentions``: parse nothing; mention only the listed user ids."""
    users: Iterable[Any] = (spec or {}).get("users", [])
    ids = [str(user) for user in users if str(user).isdigit()]
    return {"parse": [], "users": ids[:100], "roles": [], "replied_user": False}


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _error_details(response: requests.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason
    if isinstance(body, dict):
        code = body.get("code")
        return (code if isinstance(code, int) else None), str(body.get("message", ""))[:200]
    return None, str(body)[:200]
