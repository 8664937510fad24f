"""Whose Discord bot this process is: the ``discord-identity`` guard and the token's
own claim.

Copying production's ``DISCORD_BOT_TOKEN`` into staging must never work, even when
every id staging lists looks like its own: a bot token carries its bot, so the bot —
not the configuration's text — is what the guards judge.

* :func:`bot_id_from_token` reads the bot's user id out of the token itself (the first
  segment of a bot token is the base64 of the bot's id). It needs no network, so the
  configuration guards (``production-identity``, ``production-hygiene``) use it at
  every process start.
* :func:`check_discord_identity` is the live ``discord-identity`` guard (``daylock
  doctor`` and the worker's start): it asks Discord ``GET /users/@me`` which bot the
  token really is and, in ``allowlist`` mode, ``GET /channels/{id}`` which guild each
  allow-listed channel is in. What an unreachable API means depends on what the
  delivery mode could do wrong: ``capture`` sends nothing (pass), ``allowlist`` must
  prove its channels first (refuse: fail closed), ``live`` is production, where a
  Discord outage must not stop the worker (pass with a warning; delivery retries).

It sits with the guards, below the apps (``daylock.discord`` checks channels at
delivery time with :mod:`daylock.discord.identity`). Only the standard library and
:mod:`daylock.config` are imported at module level: the configuration guards run
before Django is set up and should not pay for ``requests``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from daylock.config import Config, DeliveryMode, Refusal

if TYPE_CHECKING:
    import requests

GUARD = "discord-identity"
#: Connect and read timeouts of the guard's requests: a start must not hang on Discord.
GUARD_TIMEOUT = (3.0, 3.0)
#: Discord asks every client to say who it is ("DiscordBot ($url, $version)").
USER_AGENT = "DiscordBot (https://daylock, 0.1)"
#: The largest Discord id (a snowflake is an unsigned 64-bit integer).
_MAX_SNOWFLAKE = 2**64 - 1
#: Base64 of 20 digits is 28 characters; anything much longer is not a bot id.
_MAX_SEGMENT = 64


# --- the token's own claim (no I/O) ------------------------------------------------


def bot_id_from_token(token: str) -> str | None:
    """The bot user id a Discord bot token carries, or None if it carries none.

    A bot token is ``<base64 of the bot's id>.<timestamp>.<signature>``. Read leniently
    — whitespace around it, a pasted ``Bot `` prefix, padding or none, the URL-safe or
    the standard alphabet — because the guards use the answer to *refuse* production's
    bot: every spelling Discord would accept must decode to the same id. Leading zeros
    are dropped, so the id compares equal to the one ``PRODUCTION_DISCORD_IDS`` lists.
    Never raises, whatever the input.
    """
    text = token.strip()
    if text[:4].lower() == "bot ":
        text = text[4:].strip()
    segment = text.split(".", 1)[0].strip().rstrip("=")
    if not segment or len(segment) > _MAX_SEGMENT:
        return None
    standard = segment.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return canonical_id(raw.decode("ascii", errors="replace"))


def canonical_id(value: object) -> str | None:
    """``value`` as a Discord id string without leading zeros, or None if it is not one."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    if not 0 < number <= _MAX_SNOWFLAKE:
        return None
    return str(number)


def canonical_ids(values: Iterable[str]) -> frozenset[str]:
    return frozenset(filter(None, (canonical_id(value) for value in values)))


#: A Discord id written as Discord writes one: 17 to 20 digits (ids since 2015 have at
#: least 17), no leading zero, below 2**64.
SNOWFLAKE_DIGITS = range(17, 21)


def snowflake(value: object) -> str | None:
    """``value`` if it is a Discord id exactly as Discord writes one, else None.

    Strict, unlike :func:`canonical_id` (which reads leniently so that a guard can
    *refuse* every spelling of production's ids): this is the rule for ids Daylock
    *sends* or stores from staff — 17 to 20 ASCII digits, no leading zero, below 2**64.
    ``"0"``, ``"123"``, a 23-digit run and ``" 1234…"`` are not ids; Discord answers
    them with 50035 (Invalid Form Body). The emulator judges with this same function.
    """
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value)
    if len(text) not in SNOWFLAKE_DIGITS or not text.isascii() or not text.isdigit():
        return None
    if text[0] == "0" or int(text) > _MAX_SNOWFLAKE:
        return None
    return text


def snowflake_problem(value: object) -> str:
    """Why ``value`` is not a Discord id, in words staff can act on ("" when it is one)."""
    if snowflake(value) is not None:
        return ""
    text = str(value)
    if not text.strip():
        return "is empty; a Discord id is 17 to 20 digits"
    if not text.isascii() or not text.isdigit():
        return (
            f"{text[:40]!r} is not a Discord id: use digits only (in Discord: Settings → "
            "Advanced → Developer Mode, then right-click → Copy ID)"
        )
    if len(text) not in SNOWFLAKE_DIGITS:
        count = f"{len(text)} digit{'' if len(text) == 1 else 's'}"
        return f"{text[:40]!r} is not a Discord id: it has {count}, not 17 to 20"
    if text[0] == "0":
        return f"{text[:40]!r} is not a Discord id: it starts with 0"
    return f"{text[:40]!r} is not a Discord id: it is larger than 2**64 - 1"


# --- the live guard ----------------------------------------------------------------


class _Unreachable(Exception):
    """The API did not give a usable answer (network, timeout, 5xx, 429, not JSON)."""


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any

    def error(self) -> str:
        """Discord's error body in a few words: ``HTTP 404 code 10003: Unknown Channel``."""
        text = f"HTTP {self.status}"
        if isinstance(self.body, dict):
            if self.body.get("code"):
                text += f" code {self.body['code']}"
            if self.body.get("message"):
                text += f": {str(self.body['message'])[:100]}"
        return text


def _where(api_base: str) -> str:
    parts = urlsplit(api_base)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else api_base


def _get(
    session: requests.Session, cfg: Config, path: str, pace: Callable[[], None] | None = None
) -> _Answer:
    import requests

    if pace is not None:
        pace()

    try:
        response = session.get(
            cfg.discord_api_base.rstrip("/") + path,
            headers={"Authorization": f"Bot {cfg.discord_bot_token}", "User-Agent": USER_AGENT},
            timeout=GUARD_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise _Unreachable(type(exc).__name__) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise _Unreachable(f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    return _Answer(response.status_code, body)


def check_discord_identity(
    cfg: Config,
    *,
    session: requests.Session | None = None,
    pace: Callable[[], None] | None = None,
) -> str:
    """The ``discord-identity`` guard: the bot Discord says the token is, and (allowlist)
    the guild of every allow-listed channel. Returns what it saw or raises a Refusal.

    Makes at most ``1 + len(DISCORD_ALLOWED_CHANNEL_IDS)`` short GET requests, each after
    ``pace()`` when given (the worker passes its shared limit: every worker starting at
    once still stays under Discord's 50 requests per second). Never
    prints or raises the token.
    """
    import requests

    policy = cfg.policy
    mode = cfg.discord_delivery
    production_ids = canonical_ids(cfg.production_discord_ids)
    token_id = bot_id_from_token(cfg.discord_bot_token)
    if not policy.is_production and token_id is not None and token_id in production_ids:
        # The configuration guard refuses this first; never even send the token anywhere.
        raise Refusal(
            GUARD,
            f"DISCORD_BOT_TOKEN is bot {token_id}'s, which is production's "
            "(listed in PRODUCTION_DISCORD_IDS); not sent to any API",
            f"use {cfg.app_env}'s own bot token",
        )
    where = _where(cfg.discord_api_base)
    http = session or requests.Session()
    # A refusal is one line on stderr: urllib3's DEBUG notes about connections (staging
    # logs at DEBUG) would add lines before it. The guard says what it saw itself.
    urllib3_log = logging.getLogger("urllib3")
    level = urllib3_log.level
    urllib3_log.setLevel(max(logging.WARNING, level))
    try:
        try:
            me = _get(http, cfg, "/users/@me", pace)
        except _Unreachable as exc:
            return _unverifiable(cfg, f"the Discord API at {where} is not reachable ({exc})")
        if me.status in {401, 403}:
            found = f"the Discord API at {where} refused DISCORD_BOT_TOKEN ({me.error()})"
            if mode is DeliveryMode.CAPTURE:
                return f"{found}; capture sends nothing"
            raise Refusal(
                GUARD,
                found,
                "set DISCORD_BOT_TOKEN to this environment's bot's current token "
                "(Discord developer portal → the application → Bot → Reset Token)",
            )
        bot_id = canonical_id(me.body.get("id")) if isinstance(me.body, dict) else None
        if me.status != 200 or bot_id is None:
            return _unverifiable(
                cfg, f"GET /users/@me at {where} answered {me.error()} without a bot user"
            )
        assert isinstance(me.body, dict)
        name = str(me.body.get("username") or "?")
        bot = f"bot {bot_id} ({name})"
        if policy.is_production:
            if bot_id not in production_ids:
                raise Refusal(
                    GUARD,
                    f"Discord says DISCORD_BOT_TOKEN is {bot}, which PRODUCTION_DISCORD_IDS "
                    "does not list",
                    "set production's own bot token, and list that bot's id in "
                    "PRODUCTION_DISCORD_IDS (every environment lists it)",
                )
            if bot_id != token_id:
                raise Refusal(
                    GUARD,
                    f"Discord says DISCORD_BOT_TOKEN is {bot}, but the token names bot "
                    f"{token_id or '(none)'}",
                    "set DISCORD_BOT_TOKEN to production's bot token as Discord issued it, "
                    "and DISCORD_API_BASE to Discord's API",
                )
            return f"{bot} is production's own bot (listed); delivery {mode}"
        if bot_id in production_ids:
            raise Refusal(
                GUARD,
                f"Discord says DISCORD_BOT_TOKEN is {bot}, which is production's "
                "(listed in PRODUCTION_DISCORD_IDS)",
                f"use {cfg.app_env}'s own Discord application and bot token; never production's",
            )
        if mode is not DeliveryMode.ALLOWLIST:
            return f"{bot} is not production's; delivery {mode}"
        for channel_id in sorted(cfg.discord_allowed_channel_ids):
            _check_channel(http, cfg, channel_id, where, pace)
        count = len(cfg.discord_allowed_channel_ids)
        return (
            f"{bot} is not production's; {count} allow-listed channel(s) all in "
            f"DISCORD_GUILD_ID={cfg.discord_guild_id}"
        )
    finally:
        urllib3_log.setLevel(level)
        if session is None:
            http.close()


def _unverifiable(cfg: Config, found: str) -> str:
    """What an API that gave no usable answer means under each delivery mode."""
    mode = cfg.discord_delivery
    if mode is DeliveryMode.CAPTURE:
        return f"{found}; capture sends nothing"
    if mode is DeliveryMode.LIVE:
        return (
            f"WARNING: {found}; the bot is not verified yet: the worker keeps running and "
            "delivery retries until Discord answers"
        )
    raise Refusal(
        GUARD,
        f"{found}, so the bot and the allow-listed channels cannot be verified",
        "allowlist mode sends only to channels it has checked: make DISCORD_API_BASE "
        "reachable, or use DISCORD_DELIVERY=capture",
    )


def _check_channel(
    session: requests.Session,
    cfg: Config,
    channel_id: str,
    where: str,
    pace: Callable[[], None] | None = None,
) -> None:
    fix = (
        "list only channels of this environment's test server (DISCORD_GUILD_ID) in "
        "DISCORD_ALLOWED_CHANNEL_IDS, or use DISCORD_DELIVERY=capture"
    )
    try:
        answer = _get(session, cfg, f"/channels/{channel_id}", pace)
    except _Unreachable as exc:
        raise Refusal(
            GUARD,
            f"allow-listed channel {channel_id} cannot be checked: the Discord API at {where} "
            f"is not reachable ({exc})",
            "make DISCORD_API_BASE reachable, or use DISCORD_DELIVERY=capture",
        ) from None
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise Refusal(
            GUARD,
            f"allow-listed channel {channel_id} cannot be verified: GET /channels/"
            f"{channel_id} answered {answer.error()}",
            fix,
        )
    guild = canonical_id(answer.body.get("guild_id")) if answer.body.get("guild_id") else None
    if guild != canonical_id(cfg.discord_guild_id):
        raise Refusal(
            GUARD,
            f"allow-listed channel {channel_id} belongs to "
            f"{'guild ' + guild if guild else 'no guild (not a server channel)'}, "
            f"not DISCORD_GUILD_ID={cfg.discord_guild_id}",
            fix,
        )
