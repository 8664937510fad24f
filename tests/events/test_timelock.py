from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from daylock import config
from daylock.events import timelock
from daylock.events.models import Day, DayUnlock, Event
from tests.config_override import production

from .factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_zone", "starts_on", "expected"),
    [
        # UTC: midnight is midnight.
        ("UTC", dt.date(2025, 3, 29), [utc(2025, 3, 29), utc(2025, 3, 30), utc(2025, 3, 31)]),
        # Berlin, last Sunday of March: 30 March is still CET at midnight, 31 March is
        # CEST — day 2 is 23 hours long.
        (
            "Europe/Berlin",
            dt.date(2025, 3, 29),
            [utc(2025, 3, 28, 23), utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)],
        ),
        # Berlin, last Sunday of October: day 2 (26 October) is 25 hours long.
        (
            "Europe/Berlin",
            dt.date(2025, 10, 25),
            [utc(2025, 10, 24, 22), utc(2025, 10, 25, 22), utc(2025, 10, 26, 23)],
        ),
        # New York, second Sunday of March.
        (
            "America/New_York",
            dt.date(2025, 3, 8),
            [utc(2025, 3, 8, 5), utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)],
        ),
        # New York, first Sunday of November.
        (
            "America/New_York",
            dt.date(2025, 11, 1),
            [utc(2025, 11, 1, 4), utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)],
        ),
        # Santiago skips local midnight itself on 8 September 2024 (00:00 -> 01:00):
        # the day opens at the first instant of that local date.
        (
            "America/Santiago",
            dt.date(2024, 9, 7),
            [utc(2024, 9, 7, 4), utc(2024, 9, 8, 4), utc(2024, 9, 9, 3)],
        ),
    ],
)
def test_unlock_instant_is_local_midnight_in_utc(
    time_zone: str, starts_on: dt.date, expected: list[datetime]
) -> None:
    event = Event(slug="e", name="E", time_zone=time_zone, starts_on=starts_on, day_count=3)
    assert [timelock.unlock_instant(event, n) for n in (1, 2, 3)] == expected
    for instant in expected:
        local = instant.astimezone(event.zone)
        assert (local.hour, local.minute) == (0, 0) or time_zone == "America/Santiago"


def test_day_unlocks_at_property_uses_the_same_function() -> None:
    event = EventFactory(time_zone="Europe/Berlin", starts_on=dt.date(2025, 3, 29))
    day = event.days.get(number=3)
    assert day.unlocks_at == utc(2025, 3, 30, 22)


def test_is_open_from_the_instant_exactly() -> None:
    event = EventFactory(time_zone="America/New_York", starts_on=dt.date(2025, 3, 8))
    day = event.days.get(number=3)
    instant = utc(2025, 3, 10, 4)
    assert not timelock.is_open(day, user_id=None, now=instant - timedelta(microseconds=1))
    assert timelock.is_open(day, user_id=None, now=instant)


def test_invalid_time_zone_and_reserved_slug_are_rejected() -> None:
    event = Event(
        slug="profile", name="X", time_zone="Mars/Olympus", starts_on=dt.date.today(), day_count=0
    )
    with pytest.raises(ValidationError) as excinfo:
        event.full_clean()
    errors = excinfo.value.message_dict
    assert "is not an IANA time zone name" in errors["time_zone"][0]
    assert "reserved" in errors["slug"][0]
    assert "day_count" in errors


def test_day_number_past_day_count_is_rejected() -> None:
    event = EventFactory(days=False, day_count=2)
    with pytest.raises(ValidationError, match="the event has 2 days"):
        Day(event=event, number=3, title="x").full_clean()


def _berlin_event() -> Event:
    # Day 3 opens at 00:00 CEST on 31 March 2025 = 22:00 UTC on 30 March.
    return EventFactory(slug="berlin", time_zone="Europe/Berlin", starts_on=dt.date(2025, 3, 29))


def test_locked_day_is_404_before_and_200_at_its_instant_across_dst(
    client: Client, set_clock: Callable[..., None]
) -> None:
    event = _berlin_event()
    instant = utc(2025, 3, 30, 22)
    set_clock(instant - timedelta(seconds=1))
    assert client.get("/events/berlin/day/2/").status_code == 200
    response = client.get("/events/berlin/day/3/")
    assert response.status_code == 404
    assert b"Day 3 title" not in response.content
    calendar = client.get("/events/berlin/").content.decode()
    assert "Day 3 — locked, opens Mon 31 Mar 2025, 00:00 CEST" in calendar
    assert "Day 3 title" not in calendar
    set_clock(instant)
    response = client.get("/events/berlin/day/3/")
    assert response.status_code == 200
    assert "Day 3 title" in response.content.decode()
    assert event.days.count() == 3


def test_a_users_own_clock_moves_only_their_locks(
    client: Client, set_clock: Callable[..., None]
) -> None:
    _berlin_event()
    traveller, other = UserFactory(), UserFactory()
    set_clock(utc(2025, 3, 30, 12))
    set_clock(utc(2025, 3, 31, 12), user_id=traveller.pk)
    client.force_login(traveller)
    assert client.get("/events/berlin/day/3/").status_code == 200
    client.force_login(other)
    assert client.get("/events/berlin/day/3/").status_code == 404


def test_nonexistent_and_unpublished_days_are_404(client: Client) -> None:
    EventFactory(slug="open", day_count=2)
    EventFactory(slug="draft", published=False)
    assert client.get("/events/open/day/1/").status_code == 200
    assert client.get("/events/open/day/0/").status_code == 404
    assert client.get("/events/open/day/3/").status_code == 404
    assert client.get("/events/draft/").status_code == 404
    assert client.get("/events/draft/day/1/").status_code == 404


def _future_event() -> Event:
    return EventFactory(slug="future", starts_on=dt.date.today() + timedelta(days=30))


def test_day_unlock_for_everyone_is_honoured_in_staging(client: Client) -> None:
    event = _future_event()
    assert config.policy().test_utilities
    assert client.get("/events/future/day/2/").status_code == 404
    DayUnlock.objects.create(day=event.days.get(number=2))
    assert client.get("/events/future/day/2/").status_code == 200
    assert client.get("/events/future/day/1/").status_code == 404  # only the unlocked day
    assert "Day 2 title" in client.get("/events/future/").content.decode()


def test_day_unlock_for_one_user_opens_it_for_that_user_only(client: Client) -> None:
    event = _future_event()
    chosen, other = UserFactory(), UserFactory()
    DayUnlock.objects.create(day=event.days.get(number=1), user=chosen)
    client.force_login(chosen)
    assert client.get("/events/future/day/1/").status_code == 200
    client.force_login(other)
    assert client.get("/events/future/day/1/").status_code == 404
    client.logout()
    assert client.get("/events/future/day/1/").status_code == 404


def test_day_unlock_rows_are_ignored_in_production(client: Client) -> None:
    event = _future_event()
    user = UserFactory()
    day = event.days.get(number=1)
    DayUnlock.objects.create(day=day)
    DayUnlock.objects.create(day=day, user=user)
    client.force_login(user)
    with production():
        assert not config.policy().test_utilities
        assert not timelock.is_open(day, user_id=user.pk)
        assert timelock.unlocked_day_ids([day.pk], user_id=user.pk) == set()
        assert client.get("/events/future/day/1/").status_code == 404
        assert "Day 1 title" not in client.get("/events/future/").content.decode()
    assert client.get("/events/future/day/1/").status_code == 200
