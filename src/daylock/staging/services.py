"""Writes of the admin-only test utilities: unlock a day, mark a user completed, move
the clock, force eligibility. The staff pages and ``daylock testtools`` both call these.

Every service re-checks the policy and the database stamp first (not only the URL
mount or the command's start-up guards): in production, or against a database stamped
production, nothing here writes a row. Every use writes an :class:`AuditLog` row in the
same transaction as the change it records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import User
from daylock.core.models import AuditLog, ClockOverride
from daylock.core.services import audit_record
from daylock.discord import lifecycle
from daylock.events.models import DayUnlock, EligibilityOverride, Event, Progress, Tier
from daylock.events.services import completion_refresh, progress_writers_lock
from daylock.staging import guards
from daylock.staging.parsing import format_offset

COMMAND = "testtools"


class TestToolError(ValueError):
    """Bad input for a test utility (unknown user, day out of range, …)."""

    __test__ = False  # not a pytest test class, whatever its name


@dataclass(frozen=True)
class Actor:
    """Who used a tool: a staff user (web) or the command line."""

    user: User | None
    label: str

    @classmethod
    def cli(cls) -> Actor:
        return cls(None, "cli")

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user, user.get_username())


def _require() -> None:
    guards.require_destructive(command=COMMAND, capability="test_utilities")


def audit(*, actor: Actor, action: str, target: str, details: dict[str, Any]) -> AuditLog:
    return audit_record(
        actor_id=actor.user.pk if actor.user is not None else None,
        actor_label=actor.label,
        action=action,
        target=target,
        details=details,
    )


def _scope(user: User | None) -> str:
    return clock.user_scope(user.pk) if user is not None else clock.ENVIRONMENT_SCOPE


def _who(user: User | None) -> str:
    return f"user {user.get_username()}" if user is not None else "everyone"


# --- unlock a day ------------------------------------------------------------------------


def day_unlock(*, actor: Actor, event: Event, number: int, user: User | None = None) -> DayUnlock:
    """Open day ``number`` of ``event`` now, for everyone or one user (idempotent)."""
    _require()
    if not 1 <= number <= event.day_count:
        raise TestToolError(f"{event.slug} has days 1-{event.day_count}; there is no day {number}")
    day = event.days.filter(number=number).first()
    if day is None:
        raise TestToolError(f"day {number} of {event.slug} has no content yet")
    with transaction.atomic():
        unlock, created = DayUnlock.objects.get_or_create(
            day=day, user=user, defaults={"created_by": actor.user}
        )
        audit(
            actor=actor,
            action="testtools.unlock_day",
            target=f"{event.slug} day {number} for {_who(user)}",
            details={"event": event.slug, "day": number, "user": user.pk if user else None,
                     "already_unlocked": not created},
        )  # fmt: skip
    return unlock


# --- mark completed ------------------------------------------------------------------------


def user_mark_completed(*, actor: Actor, user: User, event: Event, tier: Tier) -> int:
    """Record ``tier`` progress on every day of ``event`` for ``user``; returns how many
    rows were new.

    Only the requested tier is written. Tiers are independent challenges in Daylock
    (``completion_tier``): a veteran completion already satisfies prizes that need
    normal completion, so marking veteran does not invent normal answers. Mark both to
    get both. Time locks are ignored (that is the point of the tool).
    """
    _require()
    tier = Tier(tier)
    days = list(event.days.filter(number__lte=event.day_count).order_by("number"))
    if len(days) < event.day_count:
        raise TestToolError(
            f"{event.slug} has {event.day_count} days but only {len(days)} have content"
        )
    at = clock.now(user_id=user.pk)
    with transaction.atomic():
        # Locked before writing progress, in the same order as answering does.
        progress_writers_lock(user_ids=[user.pk])
        before = Progress.objects.filter(user=user, day__event=event, tier=tier).count()
        Progress.objects.bulk_create(
            [Progress(user=user, day=day, tier=tier, solved_at=at) for day in days],
            ignore_conflicts=True,
        )
        after = Progress.objects.filter(user=user, day__event=event, tier=tier).count()
        completion_refresh(event=event, user_ids=[user.pk])
        audit(
            actor=actor,
            action="testtools.complete",
            target=f"{user.get_username()} {tier.value} on {event.slug}",
            details={"user": user.pk, "event": event.slug, "tier": tier.value,
                     "new_rows": after - before},
        )  # fmt: skip
    return after - before


# --- clock -------------------------------------------------------------------------------------


def clock_set(
    *,
    actor: Actor,
    to: datetime | None = None,
    forward: timedelta | None = None,
    user: User | None = None,
) -> ClockOverride:
    """Move the environment's clock (or one user's) to ``to``, or ``forward`` from where
    it is now. Stored as an offset from wall time, so time keeps flowing."""
    _require()
    if (to is None) == (forward is None):
        raise TestToolError("give exactly one of a target instant (--to) or a duration (--forward)")
    wall = timezone.now()
    if to is not None:
        offset = to - wall
    else:
        assert forward is not None
        offset = (clock.now(user_id=user.pk if user else None) - wall) + forward
    scope = _scope(user)
    with transaction.atomic():
        override, _ = ClockOverride.objects.update_or_create(
            scope=scope, defaults={"user": user, "offset": offset, "set_by": actor.user}
        )
        audit(
            actor=actor,
            action="testtools.clock_set",
            target=f"clock of {_who(user)}",
            details={"scope": scope, "offset": format_offset(offset),
                     "offset_seconds": offset.total_seconds(),
                     "moved_to": (wall + offset).isoformat(timespec="seconds")},
        )  # fmt: skip
    _announce_due(user)
    return override


def _announce_due(user: User | None) -> None:
    """The environment's clock moved: write the life cycle's posts it made due now (the
    worker's minute tick would, a minute later), so the outbox shows them at once."""
    if user is None:
        lifecycle.lifecycle_tick()


def clock_reset(*, actor: Actor, user: User | None = None) -> bool:
    """Back to wall time for the environment (or drop one user's own override)."""
    _require()
    scope = _scope(user)
    with transaction.atomic():
        deleted, _ = ClockOverride.objects.filter(scope=scope).delete()
        audit(
            actor=actor,
            action="testtools.clock_reset",
            target=f"clock of {_who(user)}",
            details={"scope": scope, "had_override": bool(deleted)},
        )
    _announce_due(user)
    return bool(deleted)


# --- eligibility ---------------------------------------------------------------------------------


def eligibility_set(
    *, actor: Actor, user: User, event: Event, eligible: bool, reason: str
) -> EligibilityOverride:
    """Force ``user`` in (or out) of every prize draw of ``event``."""
    _require()
    reason = reason.strip()
    if not reason:
        raise TestToolError(
            "give a reason (it is shown on the user's profile and in the audit log)"
        )
    with transaction.atomic():
        override, _ = EligibilityOverride.objects.update_or_create(
            user=user,
            event=event,
            defaults={"eligible": eligible, "reason": reason[:200], "created_by": actor.user},
        )
        audit(
            actor=actor,
            action="testtools.eligibility_set",
            target=f"{user.get_username()} on {event.slug}",
            details={"user": user.pk, "event": event.slug, "eligible": eligible,
                     "reason": reason[:200]},
        )  # fmt: skip
    return override


def eligibility_clear(*, actor: Actor, user: User, event: Event) -> bool:
    _require()
    with transaction.atomic():
        deleted, _ = EligibilityOverride.objects.filter(user=user, event=event).delete()
        audit(
            actor=actor,
            action="testtools.eligibility_clear",
            target=f"{user.get_username()} on {event.slug}",
            details={"user": user.pk, "event": event.slug, "had_override": bool(deleted)},
        )
    return bool(deleted)
