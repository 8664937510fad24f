"""Where an event stands in time (issue 16 item 1): today's day by the event's time
zone, upcoming / running / finished, and the countdown's wording — pure functions
first, then the calendar's today marker around local midnight with a moved clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from daylock.events import schedule, timelock
from daylock.events.models import DayUnlock, Event, unlock_instant

from .factories import EventFactory


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def event(time_zone: str, starts_on: dt.date, day_count: int = 3) -> Event:
    """An unsaved event: the pure functions read nothing."""
    return Event(slug="e", name="E", time_zone=time_zone, starts_on=starts_on, day_count=day_count)


@pytest.mark.parametrize(
    ("remaining", "text", "iso"),
    [
        (timedelta(seconds=-5), "less than a minute", "PT0S"),
        (timedelta(0), "less than a minute", "PT0S"),
        (timedelta(seconds=59), "less than a minute", "PT59S"),
        (timedelta(seconds=60), "1 min", "PT1M"),
        (timedelta(minutes=12, seconds=59), "12 min", "PT12M"),
        (timedelta(hours=1), "1 h", "PT1H"),
        (timedelta(hours=5, minutes=12, seconds=59), "5 h 12 min", "PT5H12M"),
        (timedelta(hours=23, minutes=59, seconds=59), "23 h 59 min", "PT23H59M"),
        (timedelta(days=1), "1 day", "P1D"),
        (timedelta(days=1, minutes=59), "1 day", "P1D"),
        (timedelta(days=3, hours=4, minutes=30), "3 days 4 h", "P3DT4H"),
        (timedelta(days=12, hours=23), "12 days 23 h", "P12DT23H"),
    ],
)
def test_countdown_counts_down_in_whole_units(remaining: timedelta, text: str, iso: str) -> None:
    assert schedule.countdown_text(remaining) == text
    assert schedule.iso_duration(remaining) == iso


def test_countdown_between_two_instants() -> None:
    at = utc(2026, 12, 4, 23)
    countdown = schedule.countdown(at, now=at - timedelta(hours=5, minutes=12, seconds=30))
    assert (countdown.text, countdown.iso, countdown.at) == ("5 h 12 min", "PT5H12M", at)


def test_today_changes_at_local_midnight_across_daylight_saving() -> None:
    # Berlin moves to summer time on 30 March 2025: day 3 opens at 22:00 UTC that day,
    # day 2 had opened at 23:00 UTC the day before (a 23-hour day).
    berlin = event("Europe/Berlin", dt.date(2025, 3, 29))
    assert schedule.day_number_at(berlin, utc(2025, 3, 28, 22, 59, 59)) == 0
    assert schedule.day_number_at(berlin, utc(2025, 3, 28, 23)) == 1
    assert schedule.day_number_at(berlin, utc(2025, 3, 29, 22, 59, 59)) == 1
    assert schedule.day_number_at(berlin, utc(2025, 3, 29, 23)) == 2
    assert schedule.day_number_at(berlin, utc(2025, 3, 30, 21, 59, 59)) == 2
    assert schedule.day_number_at(berlin, utc(2025, 3, 30, 22)) == 3
    assert schedule.day_number_at(berlin, utc(2025, 4, 30)) == 33  # past day_count


def test_today_where_local_midnight_does_not_exist() -> None:
    # Santiago skipped from 00:00 to 01:00 on 8 September 2024 (-04 to -03): day 2 opens
    # at the transition, 04:00 UTC, which is 01:00 local on the 8th.
    santiago = event("America/Santiago", dt.date(2024, 9, 7))
    instant = unlock_instant(santiago, 2)
    assert instant == utc(2024, 9, 8, 4)
    assert schedule.day_number_at(santiago, instant - timedelta(seconds=1)) == 1
    assert schedule.day_number_at(santiago, instant) == 2
    assert schedule.day_number_at(santiago, utc(2024, 9, 9, 2, 59, 59)) == 2
    assert schedule.day_number_at(santiago, utc(2024, 9, 9, 3)) == 3


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/Santiago"])
def test_today_is_the_last_day_the_time_lock_opened(zone: str) -> None:
    """Every hour for two weeks across a DST change: today is exactly the highest day
    the time lock's own rule has opened."""
    e = event(zone, dt.date(2024, 9, 1), day_count=10)
    at = utc(2024, 8, 30)
    while at < utc(2024, 9, 14):
        opened = [n for n in range(1, 15) if unlock_instant(e, n) <= at]
        assert schedule.day_number_at(e, at) == max(opened, default=0), at
        at += timedelta(minutes=30)


def test_timing_through_an_events_life() -> None:
    tokyo = event("Asia/Tokyo", dt.date(2024, 6, 1), day_count=3)  # UTC+9, no DST
    day1, day3 = utc(2024, 5, 31, 15), utc(2024, 6, 2, 15)
    end = utc(2024, 6, 3, 15)

    before = schedule.timing(tokyo, now=day1 - timedelta(minutes=1))
    assert before.phase is schedule.Phase.UPCOMING
    assert (before.today, before.next_day, before.ends_in) == (None, 1, None)
    assert before.next_unlock == schedule.Countdown(at=day1, remaining=timedelta(minutes=1))
    assert (before.starts_at, before.ends_at) == (day1, end)

    first = schedule.timing(tokyo, now=day1)
    assert (first.phase, first.today, first.next_day) == (schedule.Phase.RUNNING, 1, 2)
    assert first.next_unlock is not None and first.next_unlock.text == "1 day"

    last = schedule.timing(tokyo, now=day3 + timedelta(hours=1))
    assert (last.phase, last.today, last.next_day, last.next_unlock) == (
        schedule.Phase.RUNNING,
        3,
        None,
        None,
    )
    assert last.ends_in is not None and last.ends_in.text == "23 h"

    after = schedule.timing(tokyo, now=end)
    assert (after.phase, after.today, after.next_unlock) == (schedule.Phase.FINISHED, None, None)


def test_sort_by_phase_orders_each_group() -> None:
    now = utc(2024, 6, 10, 12)
    specs = {
        "running-long": ("UTC", dt.date(2024, 6, 1), 30),
        "running-short": ("UTC", dt.date(2024, 6, 9), 3),
        "upcoming-far": ("UTC", dt.date(2024, 7, 1), 3),
        "upcoming-near": ("UTC", dt.date(2024, 6, 11), 3),
        "finished-old": ("UTC", dt.date(2024, 1, 1), 3),
        "finished-recent": ("UTC", dt.date(2024, 6, 1), 3),
    }
    summaries = []
    for name, (zone, starts, days) in specs.items():
        e = event(zone, starts, days)
        e.name = name
        summaries.append(schedule.EventSummary(event=e, timing=schedule.timing(e, now=now)))
    overview = schedule.sort_by_phase(summaries)
    assert [s.event.name for s in overview.running] == ["running-short", "running-long"]
    assert [s.event.name for s in overview.upcoming] == ["upcoming-near", "upcoming-far"]
    assert [s.event.name for s in overview.finished] == ["finished-recent", "finished-old"]


# --- the calendar's today marker, by the event's time zone ------------------------------


def _today_rows(body: str) -> list[str]:
    rows = [row for row in body.split("<tr")[1:] if 'aria-current="date"' in row]
    return [row.split('data-day="')[1].split('"')[0] for row in rows]


@pytest.mark.django_db
def test_calendar_marks_today_by_the_events_zone_around_midnight(
    client: Client, set_clock: Callable[..., None]
) -> None:
    EventFactory(slug="tokyo", time_zone="Asia/Tokyo", starts_on=dt.date(2024, 6, 1), day_count=5)
    EventFactory(slug="utc", time_zone="UTC", starts_on=dt.date(2024, 6, 1), day_count=5)
    # 23:59:50 in Tokyo on 2 June (14:59:50 UTC): day 2 there, day 2 in UTC too.
    set_clock(utc(2024, 6, 2, 14, 59, 50))
    tokyo, plain = client.get("/events/tokyo/").content.decode(), client.get("/events/utc/")
    assert _today_rows(tokyo) == ["2"]
    assert _today_rows(plain.content.decode()) == ["2"]
    assert '<span class="badge today-badge">today</span>' in tokyo
    # Midnight in Tokyo: day 3 there; still 15:00 on 2 June in UTC, so day 2 there.
    set_clock(utc(2024, 6, 2, 15, 0, 1))
    tokyo = client.get("/events/tokyo/").content.decode()
    assert _today_rows(tokyo) == ["3"]
    assert _today_rows(client.get("/events/utc/").content.decode()) == ["2"]
    assert 'data-day="3" data-state="open" aria-current="date"' in tokyo
    # After the last day: nothing is today, and the event says it finished.
    set_clock(utc(2024, 6, 5, 15, 0, 1))
    tokyo = client.get("/events/tokyo/").content.decode()
    assert _today_rows(tokyo) == []
    assert 'data-phase="finished"' in tokyo and "<strong>Finished:</strong>" in tokyo


@pytest.mark.django_db
def test_event_page_counts_down_to_the_next_locked_day(
    client: Client, set_clock: Callable[..., None]
) -> None:
    EventFactory(slug="cd", time_zone="Europe/Berlin", starts_on=dt.date(2025, 3, 29))
    day3 = utc(2025, 3, 30, 22)  # 00:00 CEST on 31 March
    set_clock(day3 - timedelta(hours=5, minutes=12, seconds=30))
    body = client.get("/events/cd/").content.decode()
    assert (
        '<p class="next-unlock" data-day="3">Day 3 opens in '
        '<time class="countdown" datetime="PT5H12M">5 h 12 min</time> '
        '(<time datetime="2025-03-30T22:00:00+00:00">Mon 31 Mar 2025, 00:00 CEST</time>).</p>'
    ) in body
    assert "<strong>Running:</strong> today is day 2 of 3." in body
    set_clock(day3)  # the last day is open: nothing left to count down to
    body = client.get("/events/cd/").content.decode()
    assert 'class="next-unlock"' not in body
    assert "today is day 3 of 3" in body


@pytest.mark.django_db
def test_event_page_counts_down_to_the_first_day_of_an_upcoming_event(
    client: Client, set_clock: Callable[..., None]
) -> None:
    EventFactory(slug="soon", time_zone="UTC", starts_on=dt.date(2030, 1, 10))
    set_clock(utc(2030, 1, 7, 19, 59, 30))  # a moved clock keeps running: margin
    body = client.get("/events/soon/").content.decode()
    assert "<strong>Upcoming:</strong> day 1 opens" in body
    assert '<time class="countdown" datetime="P2DT4H">2 days 4 h</time>' in body
    assert _today_rows(body) == []


@pytest.mark.django_db
def test_an_early_unlock_does_not_move_today(
    client: Client, set_clock: Callable[..., None]
) -> None:
    """A day opened early (test utility) is open, but today stays the time lock's day;
    the countdown goes to the first day still locked for this viewer."""
    e = EventFactory(slug="early", time_zone="UTC", starts_on=dt.date(2024, 6, 1), day_count=4)
    set_clock(utc(2024, 6, 2, 12))
    timelock_day = e.days.get(number=3)
    DayUnlock.objects.create(day=timelock_day)
    body = client.get("/events/early/").content.decode()
    assert _today_rows(body) == ["2"]
    assert 'data-day="3" data-state="open"' in body
    assert '<p class="next-unlock" data-day="4">Day 4 opens in' in body
    assert timelock.is_open(timelock_day, user_id=None)
