"""The home page and the event list (issue 16 item 1): running events first with
today's day as the main link and a server-rendered countdown, then upcoming, then
finished events with links to their prizes' results — by the viewer's (movable) clock."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from daylock.events.models import Day, Tier
from daylock.prizes import services
from tests.events.factories import EventFactory, UserFactory, complete
from tests.prizes.conftest import make_prize, member_sync_done

pytestmark = pytest.mark.django_db


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def phases(body: str) -> list[tuple[str, str]]:
    """(slug, phase) of each event card, in page order."""
    return re.findall(r'class="event-card" data-event="([^"]+)" data-phase="([^"]+)"', body)


def section_order(body: str) -> list[str]:
    return re.findall(r'<h2 id="(running|upcoming|finished)-heading">', body)


@pytest.fixture
def three_events() -> None:
    """Created so that the old order (newest start first) put an upcoming event
    before the running one."""
    EventFactory(slug="autumn", name="Autumn Hunt", starts_on=dt.date(2030, 10, 1), day_count=7)
    EventFactory(slug="summer", name="Summer Hunt", starts_on=dt.date(2030, 7, 1), day_count=7)
    EventFactory(slug="spring", name="Spring Hunt", starts_on=dt.date(2030, 4, 1), day_count=7)


@pytest.mark.parametrize("path", ["/", "/events/"])
def test_running_first_then_upcoming_then_finished_by_the_moved_clock(
    client: Client, set_clock: Callable[..., None], three_events: None, path: str
) -> None:
    set_clock(utc(2030, 7, 3, 12))
    body = client.get(path).content.decode()
    assert section_order(body) == ["running", "upcoming", "finished"]
    assert phases(body) == [
        ("summer", "running"),
        ("autumn", "upcoming"),
        ("spring", "finished"),
    ]
    # Three months later the same events stand elsewhere.
    set_clock(utc(2030, 10, 2, 12))
    body = client.get(path).content.decode()
    assert section_order(body) == ["running", "finished"]
    assert phases(body) == [("autumn", "running"), ("summer", "finished"), ("spring", "finished")]


def test_todays_day_is_the_main_link_with_a_countdown(
    client: Client, set_clock: Callable[..., None]
) -> None:
    event = EventFactory(
        slug="pw",
        name="Puzzle Week",
        time_zone="Europe/Berlin",
        starts_on=dt.date(2030, 7, 1),
        day_count=7,
    )
    Day.objects.filter(event=event, number=4).update(title="The fourth door")
    # Day 5 opens at 00:00 CEST on 5 July = 22:00 UTC on 4 July.
    set_clock(utc(2030, 7, 4, 22) - timedelta(hours=5, minutes=12, seconds=30))
    body = client.get("/").content.decode()
    assert '<a href="/events/pw/day/4/">Day 4 of Puzzle Week is open</a>' in body
    assert '<span class="today-title">The fourth door</span>' in body
    assert (
        'Day 5 opens in <time class="countdown" datetime="PT5H12M">5 h 12 min</time> '
        '(<time datetime="2030-07-04T22:00:00+00:00">Fri 5 Jul 2030, 00:00 CEST</time>).'
    ) in body
    # The main link is the first link of the card.
    card = body.split('data-event="pw"')[1]
    assert re.search(r'<a href="([^"]+)"', card).group(1) == "/events/pw/day/4/"  # type: ignore[union-attr]
    # On the last day the card counts down to the end instead.
    set_clock(utc(2030, 7, 7, 11, 59, 30))
    body = client.get("/").content.decode()
    assert "Day 7 of Puzzle Week is open" in body
    assert (
        'Last day: the event ends in <time class="countdown" datetime="PT10H">10 h</time>' in body
    )


def test_today_without_content_links_nowhere(
    client: Client, set_clock: Callable[..., None]
) -> None:
    event = EventFactory(slug="gap", name="Gappy", starts_on=dt.date(2030, 7, 1))
    event.days.filter(number=2).delete()
    set_clock(utc(2030, 7, 2, 12))
    body = client.get("/").content.decode()
    assert 'Day 2 of Gappy is open <span class="muted">(no content written for it yet)' in body
    assert "/events/gap/day/2/" not in body


def test_the_player_sees_what_they_solved_today(
    client: Client, set_clock: Callable[..., None]
) -> None:
    event = EventFactory(slug="mine", name="Mine", starts_on=dt.date(2030, 7, 1))
    set_clock(utc(2030, 7, 3, 12))
    player = UserFactory()
    complete(player, event, Tier.NORMAL)  # days 1-3
    complete(player, event, Tier.VETERAN, days=3)
    client.force_login(player)
    body = client.get("/").content.decode()
    assert '<span class="badge ok">solved: normal + veteran</span>' in body
    other = Client()
    assert "solved:" not in other.get("/").content.decode()


def test_finished_events_link_to_their_prizes_results(
    client: Client, set_clock: Callable[..., None]
) -> None:
    event = EventFactory(slug="over", name="Over", starts_on=dt.date(2030, 7, 1), day_count=2)
    set_clock(utc(2030, 7, 10))
    complete(UserFactory(), event, Tier.NORMAL)
    drawn = make_prize(event, name="Mug", quantity=1)
    closed = make_prize(event, name="Poster", quantity=1)
    still_open = make_prize(event, name="Cap", quantity=1)
    member_sync_done()
    services.draw_close_entries(prize=drawn, actor=None)
    services.draw_run(prize=drawn, actor=None, confirm=False)
    services.draw_close_entries(prize=closed, actor=None)
    for path in ("/", "/events/", "/events/over/"):
        body = client.get(path).content.decode()
        results = body.split("Prize results:")[1].split("</p>")[0]
        links = re.findall(
            r'<a href="/prizes/draws/(\d+)/" data-draw="\d+">([^<]+)</a> \(([^)]+)\)', results
        )
        assert links == [
            (str(drawn.draw.pk), "Mug", "drawn"),
            (str(closed.draw.pk), "Poster", "entries closed, not drawn yet"),
            (str(still_open.draw.pk), "Cap", "entries open"),
        ], path
    assert (
        "<strong>Finished:</strong> the last day ended"
        in client.get("/events/over/").content.decode()
    )


def test_home_lists_the_latest_finished_events_and_links_to_all(
    client: Client, set_clock: Callable[..., None]
) -> None:
    for month in range(1, 8):
        EventFactory(slug=f"m{month}", starts_on=dt.date(2029, month, 1), day_count=2)
    set_clock(utc(2030, 1, 1))
    body = client.get("/").content.decode()
    assert [slug for slug, _ in phases(body)] == ["m7", "m6", "m5", "m4", "m3"]
    assert '<a href="/events/">All events</a>' in body
    assert len(phases(client.get("/events/").content.decode())) == 7


def test_no_events(client: Client) -> None:
    for path in ("/", "/events/"):
        body = client.get(path).content.decode()
        assert '<p class="muted">No events yet.</p>' in body
        assert section_order(body) == []


def test_home_reads_a_fixed_number_of_queries_whatever_the_number_of_events(
    client: Client, set_clock: Callable[..., None], django_assert_max_num_queries: Any
) -> None:
    set_clock(utc(2030, 7, 3, 12))
    player = UserFactory()
    client.force_login(player)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    EventFactory(starts_on=dt.date(2030, 7, 1), day_count=5)
    EventFactory(starts_on=dt.date(2029, 7, 1), day_count=5)
    few = count()
    for offset in range(6):
        EventFactory(starts_on=dt.date(2030, 7, 1 + offset % 3), day_count=5)
        EventFactory(starts_on=dt.date(2029, 1 + offset, 1), day_count=5)
    assert count() == few
    with django_assert_max_num_queries(6):
        client.get("/")


@pytest.mark.parametrize("path", ["/", "/events/"])
def test_unpublished_events_stay_hidden(client: Client, path: str) -> None:
    EventFactory(slug="draft", name="Secret Draft", published=False, starts_on=dt.date(2020, 1, 1))
    assert "Secret Draft" not in client.get(path).content.decode()
