"""The bot's REST client: the only code in Daylock that talks to Discord's bot API.

It never decides *whether* something may be sent — that is :mod:`daylock.discord.delivery`,
per message, from the running configuration. It only makes sure that what is sent is
sent politely and at most once:

* every request carries ``Authorization: Bot <token>`` and goes to
  ``config.current().discord_api_base`` (the emulator in development and tests);
* one client per process, token and API base (:func:`client_for`), and what Discord's
  limits require every worker to agree on lives in the environment's Redis
  (:mod:`daylock.discord.ratelimits`): the 50-requests-per-second global limit, each
  route's bucket (``X-RateLimit-*`` headers), the deadline of a global 429, a
  Cloudflare ban, a held route and a pause;
* ids are checked before anything is sent (:func:`daylock.discord_identity.snowflake`:
  17 to 20 digits, below 2**64): Discord would answer 50035;
* messages carry a nonce with ``enforce_nonce`` so a retried send after a crash is
  deduplicated by Discord, and explicit ``allowed_mentions`` (nothing is parsed from
  the text: never ``@everyone``, no role pings; only the listed user ids — a draw's
  winners — are pinged); role changes carry
  ``X-Audit-Log-Reason`` so the server's audit log says why;
* what Discord answers decides what happens next: a 429 is waited out (per bucket, or
  for everyone when global), a 429 that is not JSON is Cloudflare's ban (nothing more is
  sent until it lifts: :class:`Banned`), a 401 pauses delivery for every worker until
  staff resume it (:class:`Unauthorized`, then :class:`DeliveryPaused` without
  sending), 40003 ("opening DMs too fast") holds DM opening for a long while; 5xx and
  network failures are retried with exponential backoff a bounded number of times, then
  raised as :class:`TransientError`; other 4xx are :class:`PermanentError`;
* a retried POST is the same request again, so it may post twice once Discord's nonce
  window is over: :meth:`DiscordClient.request` takes a ``resend_until`` deadline after
  which it sends nothing more, and a :class:`TransientError` says whether any attempt
  may have reached Discord (``maybe_delivered``) so the outbox knows what it knows.

The client sleeps only for short waits (at most ``max_rate_limit_wait``) and never
decides about rows: callers must not hold a database transaction while calling it.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from daylock import config
from daylock.config import Config
from daylock.discord.ratelimits import Limits, LocalLimits, RedisLimits, fingerprint
from daylock.discord_identity import USER_AGENT, snowflake_problem

logger = logging.getLogger(__name__)

#: Longest rate-limit wait the client sleeps through; longer ones are raised as
#: :class:`RateLimitedError` so the worker retries the job later instead of blocking.
MAX_RATE_LIMIT_WAIT = 30.0
MAX_ATTEMPTS = 4  # per request, for 5xx / network errors
MAX_RATE_LIMITED_RETRIES = 5  # per request, for 429s
BACKOFF_BASE = 0.5  # seconds; doubles per attempt
TIMEOUT = (5.0, 20.0)  # connect, read
NONCE_MAX_LENGTH = 25  # Discord rejects longer nonces
#: Discord's limit on ``X-Audit-Log-Reason`` (characters, before URL encoding).
AUDIT_REASON_MAX = 512
#: After 40003 ("You are opening direct messages too fast") no DM is opened for this
#: long, by any worker: Discord does not say how long it lasts, and each try counts as
#: an invalid request.
DM_OPEN_BACKOFF = 600.0
#: A Cloudflare ban that does not say how long: the invalid-request window (10 min).
BAN_DEFAULT = 600.0
#: While delivery is paused (Discord refused the token), a row is retried this much
#: later, and Discord is asked again (``GET /users/@me``) at most this often.
PAUSE_RETRY = 60.0
PAUSE_PROBE_EVERY = 300.0
#: The route whose 40003 holds every DM opening.
OPEN_DM_ROUTE = "POST /users/@me/channels"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class DiscordError(Exception):
    """Base of the client's errors; ``str()`` is safe to show to staff (no token)."""


class PermanentError(DiscordError):
    """Discord refused the request (4xx other than 429): retrying will not help.

    ``status`` 0 means nothing was sent (the client refused it first).
    """

    def __init__(self, status: int, code: int | None, message: str, route: str) -> None:
        head = f"HTTP {status}" if status else "not sent"
        super().__init__(f"{route}: {head}" + (f" code {code}" if code else "") + f": {message}")
        self.status = status
        self.code = code
        self.route = route


class Unauthorized(PermanentError):
    """Discord refused the bot token (401): every worker pauses until staff resume."""


class InvalidId(PermanentError):
    """An id that is not a Discord id: refused here, before Discord answers 50035."""

    def __init__(self, name: str, problem: str, route: str) -> None:
        super().__init__(0, 50035, f"{name} {problem}", route)


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
    """Asked to wait longer than we are willing to block; ``retry_after`` in seconds.

    ``code`` is Discord's JSON code when one said so (40003), else None.
    """

    def __init__(
        self,
        message: str,
        retry_after: float,
        *,
        maybe_delivered: bool = False,
        code: int | None = None,
    ) -> None:
        super().__init__(message, maybe_delivered=maybe_delivered)
        self.retry_after = retry_after
        self.code = code


class Banned(RateLimitedError):
    """Cloudflare bans this client (too many invalid requests): nothing is sent by any
    worker until ``retry_after`` has passed."""


class DeliveryPaused(RateLimitedError):
    """Delivery is paused since Discord refused the token (401); nothing was sent."""


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


def _check_ids(route: str, **ids: str) -> None:
    for name, value in ids.items():
        problem = snowflake_problem(value)
        if problem:
            raise InvalidId(name, problem, route)


class DiscordClient:
    """A Discord bot REST client for one token and API base.

    ``limits`` is where the counts live; without it this client counts alone (a test, a
    one-off lookup). Delivery uses :func:`client_for`, which shares them between every
    worker of the environment.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        api_base: str | None = None,
        session: requests.Session | None = None,
        limits: Limits | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        max_attempts: int = MAX_ATTEMPTS,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        backoff_base: float = BACKOFF_BASE,
        dm_open_backoff: float = DM_OPEN_BACKOFF,
    ) -> None:
        cfg = config.current()
        self.api_base = (api_base or cfg.discord_api_base).rstrip("/")
        self._token = token or cfg.discord_bot_token
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bot {self._token}", "User-Agent": USER_AGENT}
        )
        self.limits: Limits = limits if limits is not None else LocalLimits()
        self._sleep = sleep
        self._clock = clock
        self.max_attempts = max_attempts
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff_base = backoff_base
        self.dm_open_backoff = dm_open_backoff
        self._lock = threading.Lock()
        self._route_bucket: dict[str, str] = {}  # route key -> bucket key
        #: What this client met: requests sent, 429s by scope, invalid answers, waits.
        self.stats: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:  # never show the token
        return f"<DiscordClient {self.api_base}>"

    def deadline(self, seconds: float) -> float:
        """The instant ``seconds`` from now on this client's clock (for ``resend_until``)."""
        return self._clock() + seconds

    # --- the operations Daylock needs --------------------------------------------

    def create_message(
        self,
        channel_id: str,
        content: str,
        *,
        nonce: str,
        embeds: Sequence[Mapping[str, Any]] = (),
        allowed_mentions: Mapping[str, Any] | None = None,
        resend_until: float | None = None,
    ) -> dict[str, Any]:
        """Post ``content`` and ``embeds`` to a channel; returns Discord's message object.

        The nonce with ``enforce_nonce`` makes a repeated call (same nonce, within
        Discord's dedupe window) return the first message instead of posting again.
        ``resend_until`` (on this client's clock) is when that window stops covering
        the message: no attempt is made after it.
        """
        if not nonce or len(nonce) > NONCE_MAX_LENGTH:
            raise ValueError(f"nonce must be 1-{NONCE_MAX_LENGTH} characters, got {nonce!r}")
        _check_ids("POST /channels/{id}/messages", channel_id=channel_id)
        body = message_body(
            content=content, embeds=embeds, nonce=nonce, allowed_mentions=allowed_mentions
        )
        result = self.request(
            "POST", f"/channels/{channel_id}/messages", json=body, resend_until=resend_until
        )
        assert isinstance(result, dict)
        return result

    def get_channel(self, channel_id: str) -> dict[str, Any]:
        """Discord's channel object (its ``guild_id`` says which server it is in)."""
        _check_ids("GET /channels/{id}", channel_id=channel_id)
        result = self.request("GET", f"/channels/{channel_id}")
        assert isinstance(result, dict)
        return result

    def open_dm(self, recipient_id: str) -> str:
        """The id of the DM channel with a user (Discord returns the same one each time,
        so it is remembered: opening DMs is limited, 40003)."""
        _check_ids(OPEN_DM_ROUTE, recipient_id=recipient_id)
        known = self.limits.dm_channel(recipient=recipient_id)
        if known:
            return known
        result = self.request("POST", "/users/@me/channels", json={"recipient_id": recipient_id})
        assert isinstance(result, dict)
        channel = str(result["id"])
        self.limits.remember_dm_channel(recipient=recipient_id, channel=channel)
        return channel

    def send_dm(
        self,
        recipient_id: str,
        content: str,
        *,
        nonce: str,
        embeds: Sequence[Mapping[str, Any]] = (),
        allowed_mentions: Mapping[str, Any] | None = None,
        resend_until: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Open (or reuse) the DM channel with a user and post to it: the channel id and
        Discord's message. A remembered channel Discord no longer knows (10003) is
        opened afresh, once."""
        for attempt in (1, 2):
            channel_id = self.open_dm(recipient_id)
            try:
                sent = self.create_message(
                    channel_id,
                    content,
                    nonce=nonce,
                    embeds=embeds,
                    allowed_mentions=allowed_mentions,
                    resend_until=resend_until,
                )
            except PermanentError as exc:
                if exc.code != 10003 or attempt == 2:
                    raise
                self.limits.forget_dm_channel(recipient=recipient_id)
                continue
            return channel_id, sent
        raise AssertionError("unreachable")  # pragma: no cover

    def add_role(self, guild_id: str, user_id: str, role_id: str, *, reason: str = "") -> None:
        """Grant a role (idempotent on Discord's side); ``reason`` goes to the server's
        audit log."""
        self._member_role("PUT", guild_id, user_id, role_id, reason)

    def remove_role(self, guild_id: str, user_id: str, role_id: str, *, reason: str = "") -> None:
        """Take a role away (idempotent on Discord's side)."""
        self._member_role("DELETE", guild_id, user_id, role_id, reason)

    def _member_role(
        self, method: str, guild_id: str, user_id: str, role_id: str, reason: str
    ) -> None:
        route = f"{method} /guilds/{{id}}/members/{{id}}/roles/{{id}}"
        _check_ids(route, guild_id=guild_id, user_id=user_id, role_id=role_id)
        path = f"/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
        self.request(method, path, headers=audit_reason_header(reason))

    def guild_roles(self, guild_id: str) -> list[Any]:
        """The guild's roles, with their ``position`` (``GET /guilds/{id}/roles``)."""
        _check_ids("GET /guilds/{id}/roles", guild_id=guild_id)
        result = self.request("GET", f"/guilds/{guild_id}/roles")
        assert isinstance(result, list)
        return result

    def guild_member(self, guild_id: str, user_id: str) -> dict[str, Any]:
        """One member of the guild and their role ids (``GET /guilds/{id}/members/{user}``)."""
        _check_ids("GET /guilds/{id}/members/{id}", guild_id=guild_id, user_id=user_id)
        result = self.request("GET", f"/guilds/{guild_id}/members/{user_id}")
        assert isinstance(result, dict)
        return result

    def me(self) -> dict[str, Any]:
        """The bot's own user (``GET /users/@me``)."""
        result = self.request("GET", "/users/@me")
        assert isinstance(result, dict)
        return result

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

    def pace(self) -> None:
        """Wait for a slot of the global limit, and count it, for a request this client
        does not make itself (the worker's start guard): Discord counts every request of
        the bot, whoever sends it."""
        while True:
            wait = self.limits.acquire(bucket="pace", holds=("global",))
            if wait is None or wait.reason == "paused":
                return
            self._sleep(min(wait.seconds, self.max_rate_limit_wait) + 0.002)

    # --- transport ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        resend_until: float | None = None,
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
            self.stats["requests"] += 1
            try:
                response = self.session.request(
                    method, self.api_base + path, json=json, headers=headers, timeout=TIMEOUT
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
            shared = response.headers.get("X-RateLimit-Scope") == "shared"
            if status in {401, 403} or (status == 429 and not shared):
                self.stats["invalid"] += 1  # what Discord counts towards a ban
            if status == 429:
                rate_limited += 1
                retry_after = self._note_429(route, response, maybe_delivered=maybe_delivered)
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
            if status == 401:
                code, message = _error_details(response)
                self._pause(route, f"HTTP 401 code {code or 0}: {message}")
                raise Unauthorized(status, code, message, route)
            if status >= 400:
                code, message = _error_details(response)
                if status == 403 and code == 40003:
                    self.limits.hold(name=f"route:{OPEN_DM_ROUTE}", seconds=self.dm_open_backoff)
                    logger.warning(
                        "discord %s: 40003 (opening DMs too fast): no DM is opened for %.0f s",
                        route,
                        self.dm_open_backoff,
                    )
                    raise RateLimitedError(
                        f"{route}: HTTP 403 code 40003: {message} (retried in "
                        f"{self.dm_open_backoff:.0f} s)",
                        self.dm_open_backoff,
                        maybe_delivered=maybe_delivered,
                        code=40003,
                    )
                raise PermanentError(status, code, message, route)
            if status == 204 or not response.content:
                return None
            return response.json()

    def _backoff(self, route: str, failures: int, why: str) -> None:
        delay = self.backoff_base * (2 ** (failures - 1))
        logger.warning("discord %s failed (%s), retrying in %.2fs", route, why, delay)
        self._sleep(delay)

    def _bucket_key(self, route: str) -> str:
        with self._lock:
            return self._route_bucket.get(route, route)

    def _wait_for(self, route: str) -> None:
        """Return once a request on ``route`` may leave (and is counted); sleep through
        short waits, raise for long ones, a ban or a pause."""
        holds = ("banned", "global", f"route:{route}")
        while True:
            wait = self.limits.acquire(bucket=self._bucket_key(route), holds=holds)
            if wait is None:
                return
            if wait.reason == "paused":
                if self._probe_pause():
                    continue
                pause = self.limits.paused()
                raise DeliveryPaused(
                    f"{route}: not sent: delivery is paused since Discord refused the bot "
                    f"token ({pause.detail if pause else '401'}); set DISCORD_BOT_TOKEN to the "
                    "bot's current token, restart the workers, then resume delivery on the "
                    "outbox page",
                    PAUSE_RETRY,
                )
            if wait.reason == "banned":
                raise Banned(
                    f"{route}: not sent: Discord's edge (Cloudflare) bans this client for "
                    f"{wait.seconds:.0f} more s after too many invalid requests",
                    wait.seconds,
                )
            if wait.seconds > self.max_rate_limit_wait:
                raise RateLimitedError(
                    f"{route}: rate limited for {wait.seconds:.1f}s ({wait.reason})",
                    wait.seconds,
                    code=40003 if wait.reason == f"route:{OPEN_DM_ROUTE}" else None,
                )
            self.stats["waits"] += 1
            logger.info("discord %s: waiting %.2fs (%s)", route, wait.seconds, wait.reason)
            self._sleep(wait.seconds + 0.002)

    def _pause(self, route: str, detail: str) -> None:
        pause = self.limits.pause(detail=f"{route}: {detail}")
        logger.error(
            "discord %s: Discord refused the bot token (401): delivery is paused for every "
            "worker since %s; set DISCORD_BOT_TOKEN to the bot's current token, restart the "
            "workers, then resume delivery on the outbox page",
            route,
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(pause.since)),
        )

    def _probe_pause(self) -> bool:
        """Every so often one worker asks Discord whether the token works again; True
        when it does (and the pause is over)."""
        if not self.limits.claim_probe(every=PAUSE_PROBE_EVERY):
            return False
        try:
            response = self.session.get(self.api_base + "/users/@me", timeout=TIMEOUT)
        except requests.RequestException:
            return False
        if response.status_code == 200:
            self.limits.resume()
            logger.warning("discord: the bot token works again; delivery resumed")
            return True
        return False

    def _learn(self, route: str, response: requests.Response) -> None:
        """Record the bucket's remaining count and reset time from the headers."""
        headers = response.headers
        bucket_hash = headers.get("X-RateLimit-Bucket")
        remaining = _float(headers.get("X-RateLimit-Remaining"))
        reset_after = _float(headers.get("X-RateLimit-Reset-After"))
        if bucket_hash:
            major = _MAJOR.match(route.split(" ", 1)[1])
            with self._lock:
                self._route_bucket[route] = bucket_hash + (":" + major.group(2) if major else "")
        if remaining is not None and reset_after is not None:
            self.limits.learn(
                bucket=self._bucket_key(route), remaining=int(remaining), reset_after=reset_after
            )

    def _note_429(self, route: str, response: requests.Response, *, maybe_delivered: bool) -> float:
        """What a 429 means: the seconds to wait (a route's, the resource's, everyone's);
        :class:`Banned` when it is Cloudflare's, not Discord's."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "retry_after" not in body:
            retry = _float(response.headers.get("Retry-After")) or BAN_DEFAULT
            self.limits.hold(name="banned", seconds=retry)
            self.stats["429_cloudflare"] += 1
            logger.error(
                "discord %s: 429 without Discord's body: Cloudflare bans this client (too many "
                "invalid requests); nothing is sent for %.0f s",
                route,
                retry,
            )
            raise Banned(
                f"{route}: HTTP 429 from Discord's edge (Cloudflare ban: too many invalid "
                f"requests); nothing is sent for {retry:.0f} s",
                retry,
                maybe_delivered=maybe_delivered,
            )
        retry_after = _float(body.get("retry_after"))
        if retry_after is None:
            retry_after = _float(response.headers.get("Retry-After")) or 1.0
        scope = response.headers.get("X-RateLimit-Scope") or (
            "global" if body.get("global") else "user"
        )
        if body.get("global") or response.headers.get("X-RateLimit-Global", "").lower() == "true":
            scope = "global"
        self.stats[f"429_{scope}"] += 1
        if scope == "global":
            self.limits.hold(name="global", seconds=retry_after)
        else:
            # The route's bucket (scope user) or the resource's own limit (shared): this
            # route waits; nothing else does.
            self.limits.learn(bucket=self._bucket_key(route), remaining=0, reset_after=retry_after)
        logger.warning("discord %s: 429 (%s), retry after %.2fs", route, scope, retry_after)
        return retry_after


# --- one client per process, token and API base ---------------------------------------

_clients: dict[tuple[str, str, str], DiscordClient] = {}
_clients_lock = threading.Lock()


def shared_limits(cfg: Config) -> Limits:
    """Where every worker of ``cfg``'s environment counts: its Redis when it has one
    (keys under the cache's ``daylock:<env>:`` prefix), else this process."""
    if cfg.redis_url:
        from django.conf import settings

        prefix = settings.CACHES["default"].get("KEY_PREFIX") or f"daylock:{cfg.app_env.value}"
        bot = fingerprint(token=cfg.discord_bot_token, api_base=cfg.discord_api_base)
        return RedisLimits(redis_url=cfg.redis_url, prefix=f"{prefix}:discord:{bot}")
    return LocalLimits()


def client_for(cfg: Config | None = None) -> DiscordClient:
    """The process's client for ``cfg``'s token and API base (created on first use):
    one bucket map, one session, and the environment's shared limits."""
    cfg = cfg or config.current()
    key = (cfg.discord_bot_token, cfg.discord_api_base.rstrip("/"), cfg.redis_url or "")
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = DiscordClient(
                token=cfg.discord_bot_token,
                api_base=cfg.discord_api_base,
                limits=shared_limits(cfg),
            )
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop this process's clients and what they share (tests, between emulator resets)."""
    with _clients_lock:
        for client in _clients.values():
            client.limits.forget()
            client.session.close()
        _clients.clear()


def audit_reason_header(reason: str) -> dict[str, str]:
    """``X-Audit-Log-Reason``, URL-encoded as Discord requires (at most 512 characters)."""
    text = " ".join(reason.split())[:AUDIT_REASON_MAX]
    return {"X-Audit-Log-Reason": quote(text, safe=" ")} if text else {}


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


def allowed_mentions_for(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Explicit ``allowed_mentions``: parse nothing from the text (so never
    ``@everyone``), ping no role; ping only the listed user ids (Discord takes 100)."""
    users: Iterable[Any] = (spec or {}).get("users") or []
    ids = [str(user) for user in users if str(user).isdigit()]
    return {"parse": [], "users": ids[:100], "roles": [], "replied_user": False}


def message_body(
    *,
    content: str,
    embeds: Sequence[Mapping[str, Any]],
    nonce: str,
    allowed_mentions: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON body of Create Message, exactly as sent (the outbox page shows it as the
    message's raw payload). ``embeds`` only when there are some."""
    body: dict[str, Any] = {
        "content": content,
        "nonce": nonce,
        "enforce_nonce": True,
        "allowed_mentions": allowed_mentions_for(allowed_mentions),
    }
    if embeds:
        body["embeds"] = [dict(embed) for embed in embeds]
    return body


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _error_details(response: requests.Response) -> tuple[int | None, str]:
    """Discord's code and message; with an ``errors`` tree (50035) its fields too, as
    ``embeds.0.title: Must be 256 or fewer in length.``, so staff see what to fix."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason
    if isinstance(body, dict):
        code = body.get("code")
        message = str(body.get("message", ""))[:200]
        fields = form_errors(body.get("errors"))
        if fields:
            message = f"{message} ({'; '.join(fields)})"[:600]
        return (code if isinstance(code, int) else None), message
    return None, str(body)[:200]


def form_errors(tree: Any, path: str = "") -> list[str]:
    """Discord's ``errors`` object flattened: ``path: message`` per refused field, the
    path dotted (``embeds.0.fields.3.value``)."""
    if not isinstance(tree, dict):
        return []
    found: list[str] = []
    for item in tree.get("_errors") or []:
        if isinstance(item, dict):
            found.append(f"{path or 'body'}: {item.get('message', '')}".strip())
    for key, value in tree.items():
        if key != "_errors":
            found += form_errors(value, f"{path}.{key}" if path else str(key))
    return found
