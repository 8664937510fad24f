"""The time lock: when a day opens, and whether it is open for someone now.

Day *k* of an event opens at 00:00 event-local time on ``starts_on + (k - 1)`` days.
The local midnight is converted to UTC with :mod:`zoneinfo`, so days keep opening at
local midnight across daylight-saving changes (a day before a change is 23 or 25 hours
long in UTC). Where a zone skips midnight itself (e.g. America/Santiago in September),
``fold=0`` yields the first instant of that local date, which is the transition.

"Now" is always :func:`daylock.clock.now` for the user (never wall time), so a moved
clock in staging moves the locks with it. Early unlocks (:class:`DayUnlock`) are a test
utility and are honoured only where ``config.policy().test_utilities`` is true.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from daylock import clock, config
from daylock.events.models import Day, DayUnlock, Event, unlock_instant

__all__ = ["event_today", "is_open", "unlock_instant", "unlocked_day_ids"]


def event_today(event: Event, *, user_id: int | None = None) -> datetime:
    """The current instant in the event's time zone (for display)."""
    return clock.now(user_id=user_id).astimezone(event.zone)


def unlocked_day_ids(day_ids: Iterable[int], *, user_id: int | None) -> set[int]:
    """Which of these days a test utility has opened early for this user (or everyone).

    Always empty where the policy has no ``test_utilities``: rows may exist (copied
    data, a mistake), production never reads them.
    """
    if not config.policy().test_utilities:
        return set()
    who = Q(user__isnull=True) | (Q(user_id=user_id) if user_id is not None else Q(pk__in=[]))
    return set(
        DayUnlock.objects.filter(who, day_id__in=list(day_ids)).values_list("day_id", flat=True)
    )


def is_open(day: Day, *, user_id: int | None, now: datetime | None = None) -> bool:
    """Whether ``day`` is open for this user at ``now`` (default: the user's clock)."""
    at = clock.now(user_id=user_id) if now is None else now
    if at >= unlock_instant(day.event, day.number):
        return True
    return day.pk in unlocked_day_ids([day.pk], user_id=user_id)
