"""Where an event stands in time: upcoming, running (and which day is today) or
finished, and how long until the next unlock, worded for pages.

Everything follows the time lock's one rule (:func:`daylock.events.models.unlock_instant`):
"today" is the latest day whose unlock instant has passed, so it changes at local
midnight in the event's time zone (daylight-saving changes included), exactly when the
day page opens. The instant is always the caller's ``now`` — in pages
:func:`daylock.clock.now` for the viewer, so staging's moved clock moves "today" too.
Early unlocks (a test utility) open a day for someone; they do not change which day is
today.

The pure functions here take ``now`` and read nothing; :func:`events_overview` reads
the published events for the home page and the event list.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db.models import Q

from daylock import clock
from daylock.events.models import Day, Event, Progress, Tier, unlock_instant


class Phase(enum.StrEnum):
    UPCOMING = "upcoming"
    RUNNING = "running"
    FINISHED = "finished"


def day_number_at(event: Event, at: datetime) -> int:
    """The latest day (by number, past ``day_count`` too) open by the time lock at
    ``at``; 0 before day 1 opens."""
    guess = (at.astimezone(event.zone).date() - event.starts_on).days + 1
    # The local date is right but for a zone whose midnight does not exist (the day
    # then opens at the transition): step to where the rule itself says.
    while unlock_instant(event, guess + 1) <= at:
        guess += 1
    while guess >= 1 and unlock_instant(event, guess) > at:
        guess -= 1
    return max(guess, 0)


def ends_at(event: Event) -> datetime:
    """The end of the last day: the local midnight after it (UTC)."""
    return unlock_instant(event, event.day_count + 1)


def countdown_text(remaining: timedelta) -> str:
    """``remaining`` as a page says it, counted down like a clock (whole units, never
    rounded up): "less than a minute", "12 min", "5 h 12 min", "3 days 4 h"."""
    minutes = int(remaining.total_seconds()) // 60
    if minutes < 1:
        return "less than a minute"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'' if days == 1 else 's'}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def iso_duration(remaining: timedelta) -> str:
    """The same span as :func:`countdown_text` shows, as an HTML duration string for
    ``<time datetime=…>`` (``P3DT4H``, ``PT5H12M``; seconds under a minute)."""
    seconds = max(int(remaining.total_seconds()), 0)
    if seconds < 60:
        return f"PT{seconds}S"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"P{days}D" + (f"T{hours}H" if hours else "")
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")


@dataclass(frozen=True)
class Countdown:
    """Time left until ``at`` (UTC), as of the instant the page was built."""

    at: datetime
    remaining: timedelta

    @property
    def text(self) -> str:
        return countdown_text(self.remaining)

    @property
    def iso(self) -> str:
        return iso_duration(self.remaining)


def countdown(at: datetime, *, now: datetime) -> Countdown:
    return Countdown(at=at, remaining=at - now)


@dataclass(frozen=True)
class Timing:
    phase: Phase
    #: The day open today (running events only).
    today: int | None
    #: The next day the time lock opens, and when (None once the last day is open).
    next_day: int | None
    next_unlock: Countdown | None
    starts_at: datetime
    ends_at: datetime
    #: Until the end of the last day (running events only).
    ends_in: Countdown | None


def timing(event: Event, *, now: datetime) -> Timing:
    """Where ``event`` stands at ``now`` (pure)."""
    opened = day_number_at(event, now)
    end = ends_at(event)
    if now >= end:
        phase, today = Phase.FINISHED, None
    elif opened >= 1:
        phase, today = Phase.RUNNING, opened
    else:
        phase, today = Phase.UPCOMING, None
    next_day = opened + 1 if opened < event.day_count else None
    return Timing(
        phase=phase,
        today=today,
        next_day=next_day,
        next_unlock=(
            countdown(unlock_instant(event, next_day), now=now) if next_day is not None else None
        ),
        starts_at=unlock_instant(event, 1),
        ends_at=end,
        ends_in=countdown(end, now=now) if phase is Phase.RUNNING else None,
    )


@dataclass(frozen=True)
class EventSummary:
    """One event on the home page or the event list."""

    event: Event
    timing: Timing
    #: Today's day of a running event (None: not running, or no content written for it).
    today_day: Day | None = None
    #: Tiers the viewer solved today (empty for anonymous visitors).
    today_solved: frozenset[Tier] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Overview:
    """Published events by phase. Running: the one ending soonest first; upcoming: the
    one starting soonest first; finished: the one that ended last first."""

    running: list[EventSummary]
    upcoming: list[EventSummary]
    finished: list[EventSummary]

    @property
    def is_empty(self) -> bool:
        return not (self.running or self.upcoming or self.finished)


def sort_by_phase(summaries: Sequence[EventSummary]) -> Overview:
    """Group and order (pure: the order :class:`Overview` documents)."""

    def of(phase: Phase) -> list[EventSummary]:
        return [s for s in summaries if s.timing.phase is phase]

    return Overview(
        running=sorted(of(Phase.RUNNING), key=lambda s: (s.timing.ends_at, s.event.name)),
        upcoming=sorted(of(Phase.UPCOMING), key=lambda s: (s.timing.starts_at, s.event.name)),
        finished=sorted(
            of(Phase.FINISHED), key=lambda s: (-s.timing.ends_at.timestamp(), s.event.name)
        ),
    )


def events_overview(*, events: Sequence[Event], user_id: int | None) -> Overview:
    """``events`` by phase for this viewer's clock, with today's day of each running
    event and what the viewer solved of it: two queries at most (today's days, and the
    viewer's progress on them), whatever the number of events."""
    now = clock.now(user_id=user_id)
    timings = {event.pk: timing(event, now=now) for event in events}
    wanted = [Q(event=e, number=timings[e.pk].today) for e in events if timings[e.pk].today]
    today_days: dict[int, Day] = {}
    if wanted:
        today_days = {d.event_id: d for d in Day.objects.filter(reduce(or_, wanted))}
    solved: dict[int, set[Tier]] = {}
    if user_id is not None and today_days:
        rows = Progress.objects.filter(
            user_id=user_id, day_id__in=[d.pk for d in today_days.values()]
        ).values_list("day_id", "tier")
        for day_id, tier in rows:
            solved.setdefault(day_id, set()).add(Tier(tier))
    summaries = []
    for event in events:
        day = today_days.get(event.pk)
        if day is not None:
            day.event = event
        summaries.append(
            EventSummary(
                event=event,
                timing=timings[event.pk],
                today_day=day,
                today_solved=frozenset(solved.get(day.pk, ())) if day is not None else frozenset(),
            )
        )
    return sort_by_phase(summaries)
