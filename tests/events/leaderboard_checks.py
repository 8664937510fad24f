"""Checks that the leaderboard's standings table (:class:`LeaderboardEntry`) is what
progress says, computed here from scratch in Python (per progress row: the day's unlock
from :func:`unlock_instant`, whole seconds, at least 0), independently of the SQL in
:mod:`daylock.events.leaderboard`."""

from __future__ import annotations

import math
from datetime import datetime

from daylock.events.models import Event, LeaderboardEntry, Progress, unlock_instant

#: user id -> (stars, total seconds, last solve)
Standings = dict[int, tuple[int, int, datetime]]


def expected_standings(event: Event) -> Standings:
    event.refresh_from_db()
    stars: dict[int, int] = {}
    total: dict[int, int] = {}
    last: dict[int, datetime] = {}
    rows = Progress.objects.filter(day__event=event, day__number__lte=event.day_count)
    for user_id, number, solved_at in rows.values_list("user_id", "day__number", "solved_at"):
        seconds = math.floor((solved_at - unlock_instant(event, number)).total_seconds())
        stars[user_id] = stars.get(user_id, 0) + 1
        total[user_id] = total.get(user_id, 0) + max(0, seconds)
        last[user_id] = max(last.get(user_id, solved_at), solved_at)
    return {user_id: (stars[user_id], total[user_id], last[user_id]) for user_id in stars}


def stored_standings(event: Event) -> Standings:
    rows = LeaderboardEntry.objects.filter(event=event, stars__gt=0).values_list(
        "user_id", "stars", "total_seconds", "last_solved_at"
    )
    return {user_id: (stars, total, last) for user_id, stars, total, last in rows}


def assert_standings_true(*events: Event) -> None:
    """For these events (default: every event): the rows with stars are exactly what
    progress says, rows without stars are zeroed, and anonymous numbers are distinct
    and positive."""
    for event in events or tuple(Event.objects.all()):
        assert stored_standings(event) == expected_standings(event), event.slug
        entries = LeaderboardEntry.objects.filter(event=event)
        for stars, total, last in entries.filter(stars=0).values_list(
            "stars", "total_seconds", "last_solved_at"
        ):
            assert (stars, total, last) == (0, 0, None), event.slug
        numbers = list(entries.values_list("anonymous_number", flat=True))
        assert len(numbers) == len(set(numbers)) and all(n >= 1 for n in numbers), event.slug
