from __future__ import annotations

import pytest

from daylock.events import selectors
from daylock.events.models import Tier

from .factories import EventFactory, UserFactory, complete

pytestmark = pytest.mark.django_db


def test_completion_tiers() -> None:
    event = EventFactory(day_count=3)
    nobody, partial, normal, veteran, both, mixed = (UserFactory() for _ in range(6))
    complete(partial, event, Tier.NORMAL, days=2)
    complete(normal, event, Tier.NORMAL)
    complete(veteran, event, Tier.VETERAN)
    complete(both, event, Tier.NORMAL)
    complete(both, event, Tier.VETERAN)
    # Days 1-2 normal, day 3 veteran only: neither tier is complete.
    complete(mixed, event, Tier.NORMAL, days=2)
    mixed_day3 = event.days.get(number=3)
    from daylock.events.models import Progress

    Progress.objects.create(
        user=mixed, day=mixed_day3, tier=Tier.VETERAN, solved_at=event.created_at
    )
    expected = {
        nobody: None,
        partial: None,
        normal: Tier.NORMAL,
        veteran: Tier.VETERAN,
        both: Tier.VETERAN,
        mixed: None,
    }
    for user, tier in expected.items():
        assert selectors.completion_tier(user=user, event=event) == tier, user.username


def test_progress_on_another_event_does_not_count() -> None:
    event, other = EventFactory(day_count=2), EventFactory(day_count=2)
    user = UserFactory()
    complete(user, other, Tier.NORMAL)
    complete(user, event, Tier.NORMAL, days=1)
    assert selectors.completion_tier(user=user, event=event) is None
    assert selectors.completion_tier(user=user, event=other) is Tier.NORMAL


def test_days_past_a_shortened_event_do_not_count() -> None:
    event = EventFactory(day_count=3)
    user = UserFactory()
    complete(user, event, Tier.NORMAL, days=2)
    event.day_count = 2
    event.save()
    complete(user, event, Tier.VETERAN, days=1)
    assert selectors.completion_tier(user=user, event=event) is Tier.NORMAL


def test_tier_satisfies() -> None:
    assert selectors.tier_satisfies(Tier.VETERAN, Tier.NORMAL)
    assert selectors.tier_satisfies(Tier.NORMAL, Tier.NORMAL)
    assert not selectors.tier_satisfies(Tier.NORMAL, Tier.VETERAN)
    assert not selectors.tier_satisfies(None, Tier.NORMAL)
