"""Guild membership fresh from Discord: ``daylock discord sync-members``.

A player's "still in the guild" used to be only as fresh as their last login. A prize
draw must not pick someone who left the server last week, so the whole member list is
read from Discord (``GET /guilds/{id}/members``, 1,000 a page, ``after`` = the last id
of the previous page, within the client's rate limits) and applied to every linked
:class:`~daylock.accounts.models.DiscordAccount`:

* listed: ``in_guild`` true, ``left_guild_at`` cleared, the guild role ids copied and
  the Daylock role derived from them by the same rule as login
  (:func:`daylock.accounts.services.user_role_from_guild`, audited when it changes);
  the names and avatars Discord shows (username, display name, avatar, server nickname,
  guild avatar: :mod:`daylock.accounts.names`) copied as login copies them;
* not listed: departed: ``in_guild`` false, ``left_guild_at`` the sync's time (kept
  from the first time it was seen), no guild roles, hence the player role.

Departures are applied only from a *complete* list: a run that fails half-way changes
nothing, records its error and never counts as fresh. An account that a login refreshed
while the list was being read keeps the login's answer (it is newer). Seeded test
accounts (``is_test_account``) are not Discord members at all and are left alone: their
membership is part of the staging story the test utilities tell.

Each run is a :class:`~daylock.accounts.models.GuildSync` row; closing a prize's entries
reads the newest finished one (:func:`membership_freshness`). Times are wall time, not
``clock.now()``: membership changes in the real world, whatever a staging clock says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from daylock import config
from daylock.accounts.models import DiscordAccount, GuildSync, User
from daylock.accounts.services import (
    DISCORD_NAME_FIELDS,
    discord_names,
    user_role_from_guild,
)
from daylock.core.services import audit_record
from daylock.discord.client import DiscordClient, DiscordError, PermanentError, client_for

logger = logging.getLogger(__name__)

#: Discord's largest page of the member list.
PAGE_SIZE = 1000
#: How often the worker syncs (``daylock.discord.tasks.sync_members``), for messages.
WORKER_EVERY_MINUTES = 10
SYNC_COMMAND = "daylock discord sync-members"
#: Accounts written per UPDATE when a sync applies its changes.
_BATCH = 1000


class MemberSyncError(Exception):
    """The member list could not be read completely; nothing was changed. The message
    says why and what to do."""


@dataclass(frozen=True)
class SyncResult:
    sync_id: int
    guild_id: str
    pages: int
    members_listed: int
    accounts_present: int
    departed: int
    rejoined: int
    roles_changed: int
    names_changed: int
    finished_at: datetime

    def summary(self) -> str:
        return (
            f"guild {self.guild_id}: {self.members_listed} member(s) in {self.pages} page(s); "
            f"{self.accounts_present} linked account(s) present, {self.departed} departed, "
            f"{self.rejoined} back, {self.roles_changed} role change(s), "
            f"{self.names_changed} name or avatar change(s)"
        )


class _Listed(NamedTuple):
    """What the member list says of one linked account's member: their guild roles, and
    their names and avatars as login stores them
    (:func:`daylock.accounts.services.discord_names`)."""

    role_ids: list[str]
    names: tuple[str, str, str, str, str]


def _member_pages(
    *, client: DiscordClient, guild_id: str, page_size: int
) -> Iterator[list[dict[str, object]]]:
    """Every page of the member list, in order, until a page shorter than ``page_size``.

    The ids must rise from page to page (Discord's order); a list that does not would
    page for ever, so it is refused.
    """
    after = 0
    while True:
        page = client.guild_members(guild_id, after=str(after), limit=page_size)
        yield page
        if len(page) < page_size:
            return
        last = int(str(_user_of(page[-1])["id"]))
        if last <= after:
            raise MemberSyncError(
                f"Discord's member list of guild {guild_id} did not advance past id {after}; "
                "the sync stopped without changing anything — run it again later"
            )
        after = last


def _user_of(member: dict[str, object]) -> dict[str, object]:
    user = member.get("user")
    if not isinstance(user, dict):
        raise MemberSyncError("Discord sent a member without its user; nothing was changed")
    return user


def _listed(member: dict[str, object], user: dict[str, object]) -> _Listed:
    raw = member.get("roles") or []
    role_ids = [str(r) for r in raw] if isinstance(raw, list) else []
    return _Listed(role_ids, discord_names(user=user, member=member))


def _read_members(
    *, client: DiscordClient, guild_id: str, page_size: int, wanted: set[str]
) -> tuple[dict[str, _Listed], int, int]:
    """What the list says of every listed member whose id is in ``wanted`` (linked
    accounts: memory follows Daylock's accounts, not the guild's size), the number of
    pages and of members listed."""
    found: dict[str, _Listed] = {}
    pages = listed = 0
    for page in _member_pages(client=client, guild_id=guild_id, page_size=page_size):
        pages += 1
        listed += len(page)
        for member in page:
            user = _user_of(member)
            member_id = str(user["id"])
            if member_id in wanted:
                found[member_id] = _listed(member, user)
    return found, pages, listed


def _explain(exc: DiscordError, guild_id: str) -> str:
    if isinstance(exc, PermanentError) and exc.status in (401, 403):
        return (
            f"Discord refused to list the members of guild {guild_id} ({exc}): check "
            "DISCORD_BOT_TOKEN and DISCORD_GUILD_ID, and enable the bot's Server Members "
            "intent in the Discord developer portal"
        )
    return f"Discord could not list the members of guild {guild_id} ({exc}); try again later"


def members_sync(
    *, trigger: str, client: DiscordClient | None = None, page_size: int = PAGE_SIZE
) -> SyncResult:
    """Read the guild's whole member list from Discord and apply it (see the module).

    ``trigger`` says who asked (``cli``, ``worker``, ``staff:<name>``). The process's
    shared client (:func:`~daylock.discord.client.client_for`) keeps every worker of the
    bot within Discord's limits together. Raises
    :class:`MemberSyncError` when the list cannot be read completely; the run is still
    recorded, with its error, and nothing else changes.
    """
    guild_id = config.current().discord_guild_id
    started = timezone.now()
    run = GuildSync.objects.create(guild_id=guild_id, trigger=trigger[:160], started_at=started)
    wanted = set(
        DiscordAccount.objects.filter(user__is_test_account=False).values_list(
            "discord_id", flat=True
        )
    )
    try:
        members, pages, listed = _read_members(
            client=client or client_for(),
            guild_id=guild_id,
            page_size=page_size,
            wanted=wanted,
        )
    except (DiscordError, MemberSyncError) as exc:
        message = _explain(exc, guild_id) if isinstance(exc, DiscordError) else str(exc)
        GuildSync.objects.filter(pk=run.pk).update(error=message[:2000])
        logger.warning("member sync %s failed: %s", run.pk, message)
        raise MemberSyncError(message) from exc
    counts = _apply(members=members, started=started)
    finished = timezone.now()
    run.finished_at = finished
    run.pages = pages
    run.members_listed = listed
    run.accounts_present = counts["present"]
    run.departed = counts["departed"]
    run.rejoined = counts["rejoined"]
    run.roles_changed = counts["roles_changed"]
    run.names_changed = counts["names_changed"]
    run.save()
    result = SyncResult(
        sync_id=run.pk,
        guild_id=guild_id,
        pages=pages,
        members_listed=listed,
        accounts_present=counts["present"],
        departed=counts["departed"],
        rejoined=counts["rejoined"],
        roles_changed=counts["roles_changed"],
        names_changed=counts["names_changed"],
        finished_at=finished,
    )
    if counts["departed"] or counts["rejoined"] or counts["roles_changed"]:
        # Quiet runs (the usual case, every few minutes) are in GuildSync, not the log.
        audit_record(
            actor_label="discord sync",
            action="discord.members_synced",
            target=f"guild {guild_id}",
            details={
                "trigger": trigger,
                "members_listed": listed,
                "departed": counts["departed"],
                "rejoined": counts["rejoined"],
                "roles_changed": counts["roles_changed"],
            },
        )
    logger.info("member sync %s: %s", run.pk, result.summary())
    return result


def _apply(*, members: dict[str, _Listed], started: datetime) -> dict[str, int]:
    """Write what the complete list says, in one transaction (see the module).

    Changed accounts are written in bulk, membership and names apart: a usual run
    changes a handful of either, and each UPDATE names only its own columns; the first
    run after names were added to the sync renames nearly everyone (see _names_write)."""
    counts = {"present": 0, "departed": 0, "rejoined": 0, "roles_changed": 0, "names_changed": 0}
    now = timezone.now()
    membership_changed: list[DiscordAccount] = []
    names_changed: list[DiscordAccount] = []
    users_changed: list[User] = []
    with transaction.atomic():
        accounts = (
            DiscordAccount.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(user__is_test_account=False)
            .order_by("pk")
        )
        for account in accounts:
            if account.updated_at > started:
                continue  # a login refreshed it while the list was read: it is newer
            member = members.get(account.discord_id)
            role_ids = member.role_ids if member is not None else []
            before = (account.in_guild, account.left_guild_at, list(account.guild_role_ids))
            if member is not None:
                counts["present"] += 1
                if not account.in_guild:
                    counts["rejoined"] += 1
                account.in_guild = True
                account.left_guild_at = None
                if member.names != tuple(getattr(account, f) for f in DISCORD_NAME_FIELDS):
                    for name, value in zip(DISCORD_NAME_FIELDS, member.names, strict=True):
                        setattr(account, name, value)
                    account.updated_at = now
                    names_changed.append(account)
                    counts["names_changed"] += 1
            elif account.in_guild:
                counts["departed"] += 1
                account.in_guild = False
                account.left_guild_at = now
            elif account.left_guild_at is None:
                account.left_guild_at = now  # known absent, time unknown: from now on
            account.guild_role_ids = role_ids
            if (account.in_guild, account.left_guild_at, account.guild_role_ids) != before:
                account.updated_at = now
                membership_changed.append(account)
            user = account.user
            was = (user.role, user.is_staff)
            if user_role_from_guild(
                user=user,
                role_ids=role_ids,
                discord_id=account.discord_id,
                actor_label="discord sync",
            ):
                counts["roles_changed"] += 1
            if (user.role, user.is_staff) != was:
                users_changed.append(user)
        DiscordAccount.objects.bulk_update(
            membership_changed,
            ["in_guild", "left_guild_at", "guild_role_ids", "updated_at"],
            batch_size=_BATCH,
        )
        _names_write(names_changed, now=now)
        User.objects.bulk_update(users_changed, ["role", "is_staff"], batch_size=_BATCH)
    return counts


#: Renamed accounts, a batch at a time: their new values as a VALUES list joined on the
#: id (PostgreSQL and SQLite). Django's ``bulk_update`` writes a CASE with one WHEN per
#: account for each column: 10,000 renamed members took about a minute that way.
_NAMES_SQL = """
WITH listed (id, {columns}) AS (VALUES {rows})
UPDATE {table} SET {assignments}, updated_at = %s
FROM listed WHERE {table}.id = listed.id
"""


def _names_write(accounts: list[DiscordAccount], *, now: datetime) -> None:
    """Write the names and avatars of ``accounts`` (see :data:`_NAMES_SQL`)."""
    if not accounts:
        return
    table = connection.ops.quote_name(DiscordAccount._meta.db_table)
    columns = [connection.ops.quote_name(name) for name in DISCORD_NAME_FIELDS]
    assignments = ", ".join(f"{column} = listed.{column}" for column in columns)
    size = min(_BATCH, connection.ops.bulk_batch_size(["id", *DISCORD_NAME_FIELDS], accounts))
    with connection.cursor() as cursor:
        for start in range(0, len(accounts), size):
            batch = accounts[start : start + size]
            row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
            sql = _NAMES_SQL.format(
                columns=", ".join(columns),
                rows=", ".join([row] * len(batch)),
                table=table,
                assignments=assignments,
            )
            params: list[Any] = [
                value
                for account in batch
                for value in (account.pk, *(getattr(account, f) for f in DISCORD_NAME_FIELDS))
            ]
            cursor.execute(sql, [*params, now])


# --- freshness ------------------------------------------------------------------------


def last_complete_sync() -> GuildSync | None:
    """The newest finished member sync of the configured guild (a sync of another guild,
    e.g. before ``DISCORD_GUILD_ID`` changed, says nothing about this one)."""
    return (
        GuildSync.objects.filter(
            guild_id=config.current().discord_guild_id, finished_at__isnull=False
        )
        .order_by("-finished_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class Freshness:
    """How fresh guild membership is, against ``DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES``."""

    last: GuildSync | None
    max_age: timedelta
    now: datetime

    @property
    def synced_at(self) -> datetime | None:
        return self.last.finished_at if self.last is not None else None

    @property
    def fresh(self) -> bool:
        return self.synced_at is not None and self.now - self.synced_at <= self.max_age

    @property
    def problem(self) -> str | None:
        """None when fresh; else a sentence saying what is stale and how to sync."""
        if self.fresh:
            return None
        how = (
            f"run `{SYNC_COMMAND}` (the worker runs it every {WORKER_EVERY_MINUTES} "
            "minutes: is it running?)"
        )
        minutes = int(self.max_age.total_seconds() // 60)
        if self.synced_at is None:
            return f"guild membership has never been synced from Discord: {how}"
        age = int((self.now - self.synced_at).total_seconds() // 60)
        return (
            f"guild membership was last synced from Discord at "
            f"{self.synced_at:%Y-%m-%d %H:%M} UTC, {age} minutes ago (more than the "
            f"{minutes} minutes DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES allows): {how}"
        )


def membership_freshness() -> Freshness:
    minutes = config.current().member_sync_max_age_minutes
    return Freshness(
        last=last_complete_sync(), max_age=timedelta(minutes=minutes), now=timezone.now()
    )
