"""Reads of the test utilities: who is staff, lookups with clear errors, the audit log
and the state of the clock overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import User
from daylock.core.models import AuditLog, ClockOverride
from daylock.events.models import DayUnlock, EligibilityOverride, Event
from daylock.staging.services import TestToolError


def user_get(*, username: str) -> User:
    try:
        return User.objects.get(username=username.strip())
    except User.DoesNotExist:
        raise TestToolError(f"no user named {username!r}") from None


def event_get(*, slug: str) -> Event:
    try:
        return Event.objects.get(slug=slug.strip())
    except Event.DoesNotExist:
        known = ", ".join(Event.objects.order_by("slug").values_list("slug", flat=True)[:10])
        raise TestToolError(f"no event {slug!r} (known: {known or 'none'})") from None


def events_all() -> QuerySet[Event]:
    return Event.objects.order_by("-starts_on", "slug")


def audit_log(*, limit: int = 50, testtools_only: bool = False) -> QuerySet[AuditLog]:
    rows = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if testtools_only:
        rows = rows.filter(action__startswith="testtools.")
    return rows[:limit]


@dataclass(frozen=True)
class ClockRow:
    scope: str
    username: str | None
    offset: timedelta
    moved_to: datetime
    set_by: str | None


def clock_overrides() -> list[ClockRow]:
    wall = timezone.now()
    return [
        ClockRow(
            scope=o.scope,
            username=o.user.get_username() if o.user else None,
            offset=o.offset,
            moved_to=wall + o.offset,
            set_by=o.set_by.get_username() if o.set_by else None,
        )
        for o in ClockOverride.objects.select_related("user", "set_by").order_by("scope")
    ]


def environment_now() -> datetime:
    return clock.now()


def day_unlocks() -> QuerySet[DayUnlock]:
    return DayUnlock.objects.select_related("day__event", "user").order_by("-created_at")[:50]


def eligibility_overrides() -> QuerySet[EligibilityOverride]:
    return EligibilityOverride.objects.select_related("user", "event").order_by("-created_at")[:50]
