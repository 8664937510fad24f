"""The event life cycle in Discord: "Day N is open", the last-day reminder, entries
closed (the draw's commitment), results, and completion roles — all through the outbox.

Exactly once is the database's job, not timing's: every row written here carries a
``dedup_key`` (unique in :class:`~daylock.discord.models.OutboxMessage`) that names the
post (``event:12:day-open:3``) or the role transition. Two workers ticking at once, a
restart, or staging's clock moved back and forth compute the same keys, and the second
insert of a key is refused and skipped (:func:`enqueue_once`).

What is due follows :func:`daylock.clock.now`: the worker ticks every minute
(:func:`lifecycle_tick`, ``daylock.discord.lifecycle_tick``), and staging's "clock set"
ticks right after moving the clock, so a whole event plays out in the outbox (captured)
in minutes. Production's clock is wall time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse

from daylock import clock, config
from daylock.accounts.models import DiscordAccount
from daylock.discord import messages
from daylock.discord.models import OutboxKind, OutboxMessage
from daylock.discord.services import outbox_enqueue
from daylock.events.models import Day, Event, EventCompletion, Tier, unlock_instant
from daylock.prizes.models import Draw

logger = logging.getLogger(__name__)

#: An event whose last day opened longer ago than this is not announced any more: an
#: old event imported from a pack, or given a channel late, must not post its history.
ANNOUNCE_UNTIL_AFTER_LAST_DAY = timedelta(days=7)


# --- keys ----------------------------------------------------------------------------------


def day_open_key(*, event_id: int, number: int) -> str:
    return f"event:{event_id}:day-open:{number}"


def reminder_key(*, event_id: int) -> str:
    return f"event:{event_id}:last-day-reminder"


def entries_closed_key(*, event_id: int, draw_id: int) -> str:
    return f"event:{event_id}:draw:{draw_id}:entries-closed"


def results_key(*, event_id: int, draw_id: int) -> str:
    return f"event:{event_id}:draw:{draw_id}:results"


def completion_role_source(*, event_id: int, tier: Tier, user_id: int) -> str:
    """One (event, tier, user)'s role changes share this ``source``; each transition's
    ``dedup_key`` is it plus the transition's number (odd: grant, even: revoke)."""
    return f"event:{event_id}:completion-role:{Tier(tier).value}:user:{user_id}"


# --- writing once --------------------------------------------------------------------------


def enqueue_once(*, dedup_key: str, **fields: Any) -> OutboxMessage | None:
    """``outbox_enqueue`` unless a row with ``dedup_key`` exists; None when it did.

    The insert runs in a savepoint: when a concurrent writer committed the same key
    first, the unique constraint refuses ours, the savepoint (row and delivery job)
    rolls back and the caller's transaction goes on.
    """
    if _key_taken(dedup_key):
        return None
    try:
        with transaction.atomic():
            return outbox_enqueue(dedup_key=dedup_key, **fields)
    except IntegrityError:
        if _key_taken(dedup_key):
            logger.info("outbox %s was written by another process first", dedup_key)
            return None
        raise


def _key_taken(dedup_key: str) -> bool:
    return OutboxMessage.objects.filter(dedup_key=dedup_key).exists()


def _absolute(path: str) -> str:
    return f"{config.current().public_url}{path}"


def day_url(*, event: Event, number: int) -> str:
    return _absolute(reverse("events:day", kwargs={"slug": event.slug, "number": number}))


def event_url(*, event: Event) -> str:
    return _absolute(reverse("events:event", kwargs={"slug": event.slug}))


def draw_url(*, draw: Draw) -> str:
    """The public draw page (the same page as ``prizes.services.draw_page_url``)."""
    return _absolute(reverse("prizes:draw_detail", kwargs={"draw_id": draw.pk}))


# --- scheduled posts -----------------------------------------------------------------------


@dataclass(frozen=True)
class DuePost:
    key: str
    at: datetime
    post: messages.Post


def completion_roles(event: Event) -> list[tuple[str, str]]:
    """The event's completion roles as (tier label, role id), normal first."""
    named = [
        (Tier.NORMAL.label, event.completion_role_normal_id),
        (Tier.VETERAN.label, event.completion_role_veteran_id),
    ]
    return [(label, role) for label, role in named if role]


def reminder_before() -> timedelta:
    return timedelta(hours=config.current().last_day_reminder_hours)


def due_posts(
    *, event: Event, titles: dict[int, str], now: datetime, before: timedelta
) -> list[DuePost]:
    """The event's scheduled posts whose time has come at ``now``, oldest first: one
    "Day N is open" per unlocked day and the reminder once the last day is ``before``
    away. Nothing once the event is over for :data:`ANNOUNCE_UNTIL_AFTER_LAST_DAY`.

    Every due post is listed, also the ones already in the outbox (their keys say so):
    a clock jumped across several unlocks gets each post once, in order.
    """
    last = unlock_instant(event, event.day_count)
    if now >= last + ANNOUNCE_UNTIL_AFTER_LAST_DAY:
        return []
    posts: list[DuePost] = []
    for number in range(1, event.day_count + 1):
        opens = unlock_instant(event, number)
        if opens > now:
            break
        posts.append(
            DuePost(
                key=day_open_key(event_id=event.pk, number=number),
                at=opens,
                post=messages.day_open(
                    event_name=event.name,
                    number=number,
                    day_count=event.day_count,
                    title=titles.get(number, ""),
                    url=day_url(event=event, number=number),
                    opens_at=opens,
                ),
            )
        )
    remind_at = last - before
    if remind_at <= now:
        posts.append(
            DuePost(
                key=reminder_key(event_id=event.pk),
                at=remind_at,
                post=messages.last_day_reminder(
                    event_name=event.name,
                    number=event.day_count,
                    opens_at=last,
                    url=event_url(event=event),
                    completion_roles=completion_roles(event),
                ),
            )
        )
    # Chronological; the reminder after a day that opens at the same instant.
    posts.sort(key=lambda post: (post.at, post.key == reminder_key(event_id=event.pk)))
    return posts


def lifecycle_tick(*, now: datetime | None = None) -> int:
    """Put every scheduled post that is due and not yet in the outbox there; returns
    how many were written. Safe to run any number of times, from any number of
    processes at once (see :func:`enqueue_once`).

    Only published events with an announcement channel are considered.
    """
    now = now if now is not None else clock.now()
    before = reminder_before()
    written = 0
    events = Event.objects.filter(
        published=True,
        announce_channel_id__isnull=False,
        # Day 1 opens at local midnight of starts_on: never later than a day after UTC's.
        starts_on__lte=(now + timedelta(days=1)).date(),
    ).order_by("pk")
    for event in events:
        if now >= unlock_instant(event, event.day_count) + ANNOUNCE_UNTIL_AFTER_LAST_DAY:
            continue
        titles = dict(
            Day.objects.filter(event=event, number__lte=event.day_count).values_list(
                "number", "title"
            )
        )
        posts = due_posts(event=event, titles=titles, now=now, before=before)
        present = set(
            OutboxMessage.objects.filter(dedup_key__in=[p.key for p in posts]).values_list(
                "dedup_key", flat=True
            )
        )
        for post in posts:
            if post.key in present:
                continue
            message = enqueue_once(
                dedup_key=post.key,
                kind=OutboxKind.CHANNEL_MESSAGE,
                channel_id=event.announce_channel_id,
                source=post.key,
                **post.post.outbox_fields(),
            )
            written += message is not None
    if written:
        logger.info("event life cycle: %s post(s) due at %s written", written, now.isoformat())
    return written


# --- the draw's posts ----------------------------------------------------------------------


def entries_closed_enqueue(*, draw: Draw) -> OutboxMessage | None:
    """The commitment (seed hash, entrants hash, entrant count) and the public draw
    page, to the event's announcement channel: written by ``draw_close_entries`` in its
    transaction. None when the event has no channel (or it was written already)."""
    prize = draw.prize
    event = prize.event
    if not event.announce_channel_id:
        return None
    return enqueue_once(
        dedup_key=entries_closed_key(event_id=event.pk, draw_id=draw.pk),
        kind=OutboxKind.CHANNEL_MESSAGE,
        channel_id=event.announce_channel_id,
        source=f"draw:{draw.pk}:entries-closed",
        **messages.entries_closed(
            event_name=event.name,
            prize_name=prize.name,
            seed_hash=draw.seed_hash,
            entrants_hash=draw.entrants_hash,
            entrant_count=draw.entrant_count or 0,
            url=draw_url(draw=draw),
            closed_at=draw.closed_at or clock.now(),
            simulated=draw.simulated,
        ).outbox_fields(),
    )


def results_enqueue(*, draw: Draw, winner_count: int) -> OutboxMessage | None:
    """The draw was run: the public draw page, to the event's announcement channel.
    Skipped when the prize announces its winners in that same channel already."""
    prize = draw.prize
    event = prize.event
    channel = event.announce_channel_id
    if not channel or prize.announce_channel_id == channel:
        return None
    return enqueue_once(
        dedup_key=results_key(event_id=event.pk, draw_id=draw.pk),
        kind=OutboxKind.CHANNEL_MESSAGE,
        channel_id=channel,
        source=f"draw:{draw.pk}:results",
        **messages.results(
            event_name=event.name,
            prize_name=prize.name,
            winner_count=winner_count,
            url=draw_url(draw=draw),
            drawn_at=draw.drawn_at or clock.now(),
            simulated=draw.simulated,
            winners_channel_id=prize.announce_channel_id or None,
        ).outbox_fields(),
    )


# --- completion roles ----------------------------------------------------------------------


def completion_roles_sync(*, event: Event, user_ids: Iterable[int] | None = None) -> int:
    """Make the event's completion roles follow :class:`EventCompletion` for these users
    (default: every user with a completion or a role change of the event): a grant for
    each completion without a granted role, a revoke for each granted role whose
    completion is gone. Returns how many role changes were written.

    Call it inside the transaction that changed the completions (after them). The state
    "granted" is read from the outbox itself: the latest transition of (event, tier,
    user). Each transition's number is in its ``dedup_key``, so running this twice, or
    twice at once, writes each transition once. Users without a linked Discord account
    get nothing (there is nobody to grant the role to). An event that names no role
    costs no query.
    """
    event_id = event.pk
    roles = {
        Tier.NORMAL: event.completion_role_normal_id,
        Tier.VETERAN: event.completion_role_veteran_id,
    }
    if not any(roles.values()):
        return 0
    scope = None if user_ids is None else sorted(set(user_ids))
    if scope == []:
        return 0
    written = 0
    for tier, role in roles.items():
        if not role:
            continue
        holders_qs = EventCompletion.objects.filter(event_id=event_id, tier=tier)
        changes_qs = OutboxMessage.objects.filter(
            kind__in=[OutboxKind.ROLE_GRANT, OutboxKind.ROLE_REMOVE],
            dedup_key__startswith=f"event:{event_id}:completion-role:{tier.value}:user:",
        )
        if scope is not None:
            holders_qs = holders_qs.filter(user_id__in=scope)
            changes_qs = changes_qs.filter(
                source__in=[
                    completion_role_source(event_id=event_id, tier=tier, user_id=uid)
                    for uid in scope
                ]
            )
        holders = set(holders_qs.values_list("user_id", flat=True))
        last: dict[int, int] = {}
        for key in changes_qs.values_list("dedup_key", flat=True):
            assert key is not None
            *_, user, number = key.rsplit(":", 2)
            last[int(user)] = max(last.get(int(user), 0), int(number))
        granted = {uid for uid, n in last.items() if n % 2 == 1}
        grant = holders - granted
        revoke = granted - holders
        accounts = dict(
            DiscordAccount.objects.filter(user_id__in=grant | revoke).values_list(
                "user_id", "discord_id"
            )
        )
        for uid in sorted(grant | revoke):
            if uid not in accounts:
                continue
            is_grant = uid in grant
            source = completion_role_source(event_id=event_id, tier=tier, user_id=uid)
            message = enqueue_once(
                dedup_key=f"{source}:{last.get(uid, 0) + 1}",
                kind=OutboxKind.ROLE_GRANT if is_grant else OutboxKind.ROLE_REMOVE,
                recipient_id=accounts[uid],
                role_id=role,
                source=source,
                reason=(
                    f"{tier.label} completion of {event.name!r}"
                    if is_grant
                    else f"{tier.label} completion of {event.name!r} removed"
                ),
            )
            written += message is not None
    return written
