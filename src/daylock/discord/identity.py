"""Which guild a channel belongs to, at delivery time.

:func:`channel_guild` answers the question the ``discord-identity`` guard
(:mod:`daylock.discord_identity`) asks at start, again at delivery, cached per process
for a few minutes, so a channel that moved to another guild after the worker started is
blocked rather than sent (``allowlist`` mode).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from daylock.discord.client import DiscordClient, PermanentError
from daylock.discord_identity import canonical_id

#: How long a process trusts what Discord said about a channel's guild.
CHANNEL_CACHE_SECONDS = 300.0


# --- a channel's guild at delivery time ---------------------------------------------


@dataclass(frozen=True)
class ChannelGuild:
    """What Discord said about a channel's guild (the data ``delivery.decide`` judges).

    ``guild_id`` is None when Discord knows no such channel for this bot, or the
    channel is not in a server (a DM); ``detail`` says which, for the staff note.
    """

    channel_id: str
    guild_id: str | None
    detail: str


_cache: dict[tuple[str, str], tuple[float, ChannelGuild]] = {}
_cache_lock = threading.Lock()


def channel_guild(
    channel_id: str, *, client: DiscordClient, clock: Callable[[], float] = time.monotonic
) -> ChannelGuild:
    """The guild ``channel_id`` is in, as Discord says (cached per process and API base).

    A 4xx answer (unknown channel, no access) is an answer: cached as "no guild". A
    transient failure raises the client's :class:`~daylock.discord.client.TransientError`
    and is not cached: the caller retries the delivery later.
    """
    key = (client.api_base, channel_id)
    now = clock()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    try:
        data = client.get_channel(channel_id)
    except PermanentError as exc:
        facts = ChannelGuild(channel_id, None, f"Discord answered {exc}")
    else:
        raw = data.get("guild_id") if isinstance(data, dict) else None
        guild = canonical_id(raw) if raw else None
        detail = f"guild {guild}" if guild else "not a server channel"
        facts = ChannelGuild(channel_id, guild, detail)
    with _cache_lock:
        _cache[key] = (now + CHANNEL_CACHE_SECONDS, facts)
    return facts


def forget_channel_guilds() -> None:
    """Drop the per-process channel cache (tests; a process that changed API base)."""
    with _cache_lock:
        _cache.clear()
