"""Checks that the completion table (:class:`EventCompletion`) is what progress says.

The expectation is computed here with the ORM (``COUNT(DISTINCT day)`` per user and
tier), independently of the SQL in :func:`daylock.events.services.completion_refresh`,
and compared with :func:`daylock.events.selectors.completion_tier` for each user.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max

from daylock.accounts.models import User
from daylock.events.models import Event, EventCompletion, Progress, Tier
from daylock.events.selectors import completion_tier

Completions = dict[tuple[int, str], datetime]


def expected_completions(event: Event) -> Completions:
    event.refresh_from_db()
    rows = (
        Progress.objects.filter(day__event=event, day__number__lte=event.day_count)
        .values("user_id", "tier")
        .annotate(days=Count("day", distinct=True), last=Max("solved_at"))
        .filter(days=event.day_count)
        .values_list("user_id", "tier", "last")
    )
    return {(user_id, tier): last for user_id, tier, last in rows}


def stored_completions(event: Event) -> Completions:
    rows = EventCompletion.objects.filter(event=event).values_list(
        "user_id", "tier", "completed_at"
    )
    return {(user_id, tier): at for user_id, tier, at in rows}


def assert_completions_true(*events: Event, per_user_limit: int = 200) -> None:
    """The table matches progress for these events (default: every event), and for up
    to ``per_user_limit`` users per event :func:`completion_tier` agrees with progress."""
    for event in events or tuple(Event.objects.all()):
        stored = stored_completions(event)
        expected = expected_completions(event)
        assert stored == expected, (event.slug, stored, expected)
        solvers = Progress.objects.filter(day__event=event).values_list("user_id", flat=True)
        users = set(solvers) | {user_id for user_id, _ in stored}
        for user in User.objects.filter(pk__in=sorted(users)[:per_user_limit]):
            tiers = {tier for user_id, tier in expected if user_id == user.pk}
            from_table = (
                Tier.VETERAN
                if Tier.VETERAN in tiers
                else Tier.NORMAL
                if Tier.NORMAL in tiers
                else None
            )
            assert completion_tier(user=user, event=event) == from_table, (event.slug, user)
