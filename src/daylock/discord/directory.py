"""The guild's directory: its channels and roles by name, for pickers.

Staff pick completion roles, a prize's role and announcement channels by *name*; what
is stored is the id. Names come from Discord (``GET /guilds/{guild}/channels`` and
``GET /guilds/{guild}/roles``) through the bot's REST client — the emulator in
development, tests and the end-to-end run — and are kept in the environment's cache
for :data:`DIRECTORY_TTL_SECONDS`, so opening the editor does not call Discord each
time; :func:`directory_refresh` forgets them (the editor's "Refresh" button), for a
role created a minute ago.

A failed read is not cached and not raised: the listing says what went wrong
(:attr:`Listing.error`), so a page can still show the ids it already holds and offer
to refresh. The read makes one attempt (no retries with back-off inside a page view).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from daylock import config
from daylock.discord.client import DiscordClient, DiscordError

#: How long a read directory is trusted: long enough that the editor opens without
#: asking Discord, short enough that a renamed role shows up within minutes anyway.
DIRECTORY_TTL_SECONDS = 300

#: Channel types that can carry an announcement: text and announcement channels.
TEXT_CHANNEL_TYPES = frozenset({0, 5})


class Kind(enum.StrEnum):
    CHANNELS = "channels"
    ROLES = "roles"


@dataclass(frozen=True)
class Entry:
    id: str
    name: str


@dataclass(frozen=True)
class Listing:
    """One kind of the guild's directory, sorted by name.

    ``error`` says why nothing could be read (then ``entries`` is empty); ``read_at``
    is when Discord was asked (Unix time), for "read … ago".
    """

    kind: Kind
    entries: tuple[Entry, ...]
    read_at: float | None
    error: str | None = None

    def name_of(self, snowflake: str | None) -> str | None:
        return next((entry.name for entry in self.entries if entry.id == snowflake), None)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(entry.id for entry in self.entries)

    @property
    def age_seconds(self) -> int | None:
        return None if self.read_at is None else max(0, int(time.time() - self.read_at))


def _key(kind: Kind) -> str:
    # The cache's own prefix already names the environment (daylock:<env>:).
    return f"discord-directory:{config.current().discord_guild_id}:{kind.value}"


def _entries(kind: Kind, raw: Any, guild_id: str) -> tuple[Entry, ...]:
    if not isinstance(raw, list):
        raise ValueError(f"Discord answered {type(raw).__name__}, not a list of {kind.value}")
    found: list[Entry] = []
    for item in raw:
        if not isinstance(item, Mapping) or "id" not in item or "name" not in item:
            continue
        if kind is Kind.CHANNELS and item.get("type") not in TEXT_CHANNEL_TYPES:
            continue
        # @everyone (the guild's own id) and roles managed by an integration cannot be
        # granted to anyone.
        if kind is Kind.ROLES and (str(item["id"]) == guild_id or item.get("managed")):
            continue
        found.append(Entry(id=str(item["id"]), name=str(item["name"])))
    return tuple(sorted(found, key=lambda entry: (entry.name.casefold(), entry.id)))


def _read(kind: Kind, client: DiscordClient | None) -> Listing:
    cached = cache.get(_key(kind))
    if isinstance(cached, dict):
        # Plain values in the cache (not pickled classes): any version can read them.
        entries = tuple(Entry(id=i, name=n) for i, n in cached["entries"])
        return Listing(kind=kind, entries=entries, read_at=cached["read_at"])
    guild_id = config.current().discord_guild_id
    client = client or DiscordClient(max_attempts=1)
    try:
        raw = client.request("GET", f"/guilds/{guild_id}/{kind.value}")
        listing = Listing(kind=kind, entries=_entries(kind, raw, guild_id), read_at=time.time())
    except (DiscordError, ValueError) as exc:
        return Listing(
            kind=kind,
            entries=(),
            read_at=None,
            error=f"could not read the server's {kind.value} from Discord ({exc}); "
            "try Refresh in a moment",
        )
    stored = {"entries": [[e.id, e.name] for e in listing.entries], "read_at": listing.read_at}
    cache.set(_key(kind), stored, DIRECTORY_TTL_SECONDS)
    return listing


def guild_channels(*, client: DiscordClient | None = None) -> Listing:
    """The guild's text and announcement channels by name (cached)."""
    return _read(Kind.CHANNELS, client)


def guild_roles(*, client: DiscordClient | None = None) -> Listing:
    """The guild's roles that can be granted, by name (cached; no ``@everyone``, no
    integration-managed roles)."""
    return _read(Kind.ROLES, client)


def directory_refresh() -> None:
    """Forget the cached directory: the next read asks Discord again."""
    cache.delete_many([_key(kind) for kind in Kind])
