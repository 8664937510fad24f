"""Reads of the Discord outbox (staff page, ``daylock outbox list``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from daylock import config
from daylock.accounts.models import DiscordAccount
from daylock.accounts.names import display_name
from daylock.discord import directory, rendering
from daylock.discord.client import OPEN_DM_ROUTE, client_for
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.ratelimits import Pause

logger = logging.getLogger(__name__)


def outbox_list(*, status: str | None = None, limit: int | None = None) -> QuerySet[OutboxMessage]:
    """Newest first; ``status`` must be an :class:`OutboxStatus` value when given."""
    messages = OutboxMessage.objects.order_by("-created_at", "-id")
    if status:
        if status not in OutboxStatus.values:
            raise ValueError(
                f"unknown status {status!r}; use one of {', '.join(OutboxStatus.values)}"
            )
        messages = messages.filter(status=status)
    return messages[:limit] if limit else messages


def outbox_get(*, message_id: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=message_id).first()


def outbox_counts() -> dict[str, int]:
    """How many rows per status (every status present, zero when none)."""
    counts = dict.fromkeys(OutboxStatus.values, 0)
    for row in OutboxMessage.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def outbox_content_visible(message: OutboxMessage) -> bool:
    """Staff may read a message's full text outside production (a mail catcher).

    In production real members' DMs are not for browsing: the pages show a preview.
    """
    return config.policy().outbox_full_content


@dataclass(frozen=True)
class MentionNames:
    """The names the outbox pages show for ids, and why some may be missing."""

    names: rendering.Names
    #: Why the server's roles or channels could not be named ("" when they could, or
    #: when none was needed).
    problem: str


def mention_names(*, wanted: rendering.Mentioned, ask_discord: bool) -> MentionNames:
    """Names for the ids ``wanted``: users from their linked Discord accounts, roles and
    channels from the guild directory (:mod:`daylock.discord.directory`, cached; read
    from Discord only when ``ask_discord`` — not while Discord holds the bot back)."""
    users = {
        account.discord_id: display_name(account)
        for account in DiscordAccount.objects.filter(discord_id__in=wanted.users)
    }
    roles: dict[str, str] = {}
    channels: dict[str, str] = {}
    problems: list[str] = []
    for ids, read, found in (
        (wanted.roles, directory.guild_roles, roles),
        (wanted.channels, directory.guild_channels, channels),
    ):
        if not ids:
            continue
        if not ask_discord:
            problems.append(
                "role and channel names were not read: Discord holds the bot back, or its "
                "state could not be read"
            )
            continue
        listing = read()
        if listing.error:
            problems.append(listing.error)
        found.update((entry.id, entry.name) for entry in listing.entries if entry.id in ids)
    guild = config.current().discord_guild_id
    return MentionNames(
        names=rendering.Names(users=users, roles=roles, channels=channels, guild_id=guild),
        problem="; ".join(dict.fromkeys(problems)),
    )


@dataclass(frozen=True)
class DeliveryHold:
    """What stops or slows every worker right now (shared by all of them, in Redis)."""

    #: Discord refused the bot token (401): nothing is sent until staff resume.
    paused: Pause | None
    #: Seconds Cloudflare's ban still lasts (too many invalid requests).
    banned_for: float
    #: Seconds no DM is opened (Discord answered 40003: opening DMs too fast).
    dm_open_held_for: float
    #: Seconds a global 429 still holds every request.
    global_held_for: float

    @property
    def any(self) -> bool:
        return bool(self.paused or self.banned_for or self.dm_open_held_for or self.global_held_for)


def delivery_hold() -> DeliveryHold | None:
    """The holds on delivery for this environment's bot (None when they cannot be read:
    the page still shows the rows)."""
    limits = client_for(config.current()).limits
    try:
        return DeliveryHold(
            paused=limits.paused(),
            banned_for=limits.held(name="banned"),
            dm_open_held_for=limits.held(name=f"route:{OPEN_DM_ROUTE}"),
            global_held_for=limits.held(name="global"),
        )
    except Exception as exc:  # a status banner must never break the page
        logger.warning("cannot read the delivery holds: %s", exc)
        return None


@dataclass(frozen=True)
class GrantState:
    """Where a role grant stands, in words for the prize page."""

    message_id: int
    status: str
    text: str


_GRANT_TEXT: dict[str, str] = {
    OutboxStatus.QUEUED: "pending: the role grant waits for Discord",
    OutboxStatus.SENDING: "pending: the role grant is being sent",
    OutboxStatus.CAPTURED: "not granted: role grant captured (this environment sends nothing)",
    OutboxStatus.BLOCKED: "not granted: role grant blocked in this environment",
    OutboxStatus.UNCERTAIN: "uncertain: look in Discord, then resend or discard the grant",
    OutboxStatus.DISCARDED: "not granted: role grant discarded by staff",
    OutboxStatus.SENT: "fulfilled: Discord confirmed the role grant",
}


def role_grants(*, sources: list[str]) -> dict[str, GrantState]:
    """The latest role grant of each ``source`` (e.g. ``draw:12:rank:1``), for pages that
    show whether Discord granted a prize role: ``failed: role above the bot (50013)``."""
    found: dict[str, GrantState] = {}
    rows = OutboxMessage.objects.filter(kind="role_grant", source__in=sources).order_by("id")
    for row in rows:
        text = row.summary if row.status == OutboxStatus.FAILED else _GRANT_TEXT.get(row.status)
        found[row.source] = GrantState(row.pk, row.status, text or str(row.status))
    return found
