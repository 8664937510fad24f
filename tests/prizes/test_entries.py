"""Prizes in view (issue 16 item 3): the event page and My prizes show each prize's
rule, whether the viewer qualifies and why, when entries close, the public draw page
with its commitment, and — once entries closed — the viewer's entrant id and whether
``entrants.txt`` lists it, with a one-line check that the tests run against the file."""

from __future__ import annotations

import datetime as dt
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from daylock.accounts.models import DiscordAccount, User
from daylock.events.models import Event, Tier
from daylock.prizes import draw as algorithm
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, DrawEntrantList, DrawStatus, Prize
from tests.config_override import production
from tests.events.conftest import move_clock
from tests.events.factories import EventFactory, FeedbackFactory, UserFactory, complete
from tests.prizes.conftest import make_entrants, make_prize

pytestmark = pytest.mark.django_db


def card(body: str, prize: Prize) -> str:
    """The prize's card on a page."""
    return body.split(f'class="prize-card" data-prize="{prize.pk}"')[1].split("</li>")[0]


def attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', html)
    assert found is not None, name
    return found.group(1)


def page(client: Client, event: Event) -> str:
    response = client.get(f"/events/{event.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def as_player(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entrants_txt(client: Client, draw: Draw) -> list[str]:
    response = client.get(f"/prizes/draws/{draw.pk}/entrants.txt")
    return b"".join(response.streaming_content).decode().splitlines()


def run_check(command: str, client: Client) -> list[str]:
    """What ``curl -s URL | grep -x ID`` prints, with the test client as curl."""
    found = re.fullmatch(r"curl -s http://testserver(/\S+) \| grep -x (\d+)", command)
    assert found is not None, command
    response = client.get(found.group(1))
    lines = b"".join(response.streaming_content).decode().splitlines()
    return [line for line in lines if line == found.group(2)]


def check_command(html: str) -> str:
    found = re.search(r'<pre class="check-command"><code>([^<]+)</code></pre>', html)
    assert found is not None
    return found.group(1)


# --- while entries are open ---------------------------------------------------------


def test_event_page_says_who_qualifies_and_why_per_viewer(event: Event, client: Client) -> None:
    veteran_cape = make_prize(event, name="Veteran cape", min_tier=Tier.VETERAN, quantity=1)
    feedback_mug = make_prize(event, name="Mug", feedback_required=True)
    normal = UserFactory()
    complete(normal, event, Tier.NORMAL)
    left = UserFactory()
    complete(left, event, Tier.VETERAN)
    DiscordAccount.objects.filter(user=left).update(
        in_guild=False, left_guild_at=datetime(2026, 11, 30, 18, tzinfo=UTC)
    )

    anonymous = page(client, event)
    for prize in (veteran_cape, feedback_mug):
        html = card(anonymous, prize)
        assert f'<a href="/auth/login/?next=%2Fevents%2F{event.slug}%2F">Log in to see</a>' in html
        assert attribute(html, "data-eligible") == "unknown"
        assert "entrant-id" not in html and "curl" not in html
    assert "Solve all 2 days at veteran tier. 1 winner drawn" in card(anonymous, veteran_cape)
    assert (
        "Solve all 2 days at normal tier (or all at veteran tier), and leave feedback on the "
        "event or one of its days. 2 winners drawn"
    ) in card(anonymous, feedback_mug)

    html = page(as_player(normal), event)
    cape, mug = card(html, veteran_cape), card(html, feedback_mug)
    assert attribute(cape, "data-eligible") == "false"
    assert attribute(cape, "data-reason") == "incomplete"
    assert "you need the veteran tier on days 1 and 2." in cape
    assert attribute(mug, "data-reason") == "no-feedback"
    assert (
        "you completed the normal tier on all 2 days; leave feedback on the event or one of "
        "its days to qualify."
    ) in mug
    FeedbackFactory(user=normal, event=event)
    mug = card(page(as_player(normal), event), feedback_mug)
    assert attribute(mug, "data-eligible") == "true"
    assert '<span class="badge ok">you qualify</span>' in mug
    assert "you completed the normal tier on all 2 days and left feedback." in mug

    cape = card(page(as_player(left), event), veteran_cape)
    assert attribute(cape, "data-reason") == "left-server"
    assert "you left the Discord server on 2026-11-30; rejoin it to qualify." in cape


def test_open_entries_show_when_they_close_and_the_seed_commitment(client: Client) -> None:
    move_clock(datetime(2030, 7, 2, 12, tzinfo=UTC))
    event = EventFactory(
        slug="live", time_zone="Europe/Berlin", starts_on=dt.date(2030, 7, 1), day_count=3
    )
    prize = make_prize(event, name="Poster")
    draw = Draw.objects.get(prize=prize)
    player = UserFactory()
    complete(player, event, Tier.NORMAL, days=1)
    html = card(page(as_player(player), event), prize)
    assert attribute(html, "data-status") == "open"
    assert (
        "open. Staff close them once the last day has opened "
        '(<time datetime="2030-07-02T22:00:00+00:00">Wed 3 Jul 2030, 00:00 CEST</time>)'
    ) in html
    assert "you need the normal tier on days 2 and 3 (day 3 opens later)." in html
    assert f'<code class="hash" data-field="seed_hash">{draw.seed_hash}</code>' in html
    assert 'data-field="entrants_hash"' not in html
    assert f'<a href="/prizes/draws/{draw.pk}/">Public draw page</a>' in html
    # Their entrant id, and how to check for it once the list exists.
    assert f'Your entrant id: <code class="entrant-id">{player.pk}</code>' in html
    assert "Once entries close, check that the list names you" in html
    assert check_command(html) == (
        f"curl -s http://testserver/prizes/draws/{draw.pk}/entrants.txt | grep -x {player.pk}"
    )


# --- once entries closed --------------------------------------------------------------


def test_after_close_each_player_sees_whether_entrants_txt_lists_them(
    event: Event, client: Client
) -> None:
    entrants = make_entrants(event, 3)
    outsider = UserFactory()
    complete(outsider, event, Tier.NORMAL, days=1)
    prize = make_prize(event, name="Poster", quantity=1)
    services.draw_close_entries(prize=prize, actor=None)
    draw = Draw.objects.get(prize=prize)
    listed_ids = entrants_txt(client, draw)
    assert sorted(int(i) for i in listed_ids) == sorted(u.pk for u in entrants)

    for user, listed in [(entrants[1], True), (outsider, False)]:
        viewer = as_player(user)
        html = card(page(viewer, event), prize)
        assert attribute(html, "data-status") == "closed"
        assert attribute(html, "data-listed") == ("true" if listed else "false")
        assert attribute(html, "data-eligible") == "unknown"  # the list decides now
        assert f'Your entrant id: <code class="entrant-id">{user.pk}</code>' in html
        if listed:
            assert "you are an entrant</span> entrants.txt lists your entrant id." in html
        else:
            assert "entrants.txt does not list your entrant id" in html
        # The one-line check says the same as the page.
        assert run_check(check_command(html), viewer) == ([str(user.pk)] if listed else [])
        assert f'data-field="entrants_hash">{draw.entrants_hash}</code>' in html
        assert '<dd data-field="entrant_count">3</dd>' in html
        assert "with 3 entrants." in html

    anonymous = card(page(client, event), prize)
    assert attribute(anonymous, "data-listed") == "unknown"
    assert "Log in to see" in anonymous and "curl" not in anonymous


def test_my_prizes_shows_the_entrant_id_open_prizes_and_closed_draws_played(
    event: Event, client: Client
) -> None:
    [player] = make_entrants(event, 1)
    closed = make_prize(event, name="Closed poster", quantity=1)
    services.draw_close_entries(prize=closed, actor=None)
    still_open = make_prize(event, name="Open mug")
    elsewhere = EventFactory(day_count=1)  # played by someone else only
    make_entrants(elsewhere, 1)
    unplayed = make_prize(elsewhere, name="Not my event", quantity=1)
    services.draw_close_entries(prize=unplayed, actor=None)

    assert client.get("/prizes/mine/").status_code == 302  # login first
    viewer = as_player(player)
    body = viewer.get("/prizes/mine/").content.decode()
    assert f'<code class="entrant-id" data-entrant-id="{player.pk}">{player.pk}</code>' in body
    open_part = body.split('id="open-heading"')[1].split('id="closed-heading"')[0]
    closed_part = body.split('id="closed-heading"')[1]
    assert "Open mug" in open_part and "Closed poster" not in open_part
    assert attribute(card(open_part, still_open), "data-eligible") == "true"
    assert "Closed poster" in closed_part and "Not my event" not in body
    closed_card = card(closed_part, closed)
    assert attribute(closed_card, "data-listed") == "true"
    assert run_check(check_command(closed_card), viewer) == [str(player.pk)]


def test_entrant_listed_matches_whole_lines_only() -> None:
    """``grep -x`` semantics: 5 is listed, 50 and 1 (a part of 15 and 150) are not; the
    first and the last line count."""
    prize = make_prize(EventFactory(day_count=1))
    draw = Draw.objects.get(prize=prize)
    ids = [5, 15, 150, 9000]
    encoded = algorithm.encode_entrants(ids)
    DrawEntrantList.objects.create(draw=draw, encoded=encoded)
    Draw.objects.filter(pk=draw.pk).update(
        status=DrawStatus.CLOSED,
        closed_at=timezone.now(),
        entrant_count=len(ids),
        winners_wanted=1,
        entrants_hash=algorithm.entrants_hash(ids),
    )
    draw.refresh_from_db()
    for user_id in (1, 5, 15, 50, 51, 150, 1500, 900, 9000, 90000):
        found = selectors.entrant_listed(draws=[draw], user_id=user_id)
        assert found == ({draw.pk} if user_id in ids else set()), user_id


def test_entrant_listed_agrees_with_the_list_and_remembers(
    event: Event, django_assert_num_queries: Any
) -> None:
    rng = random.Random(16)
    prize = make_prize(event)
    draw = Draw.objects.get(prize=prize)
    ids = sorted(rng.sample(range(1, 5000), 400))
    DrawEntrantList.objects.create(draw=draw, encoded=algorithm.encode_entrants(ids))
    Draw.objects.filter(pk=draw.pk).update(
        status=DrawStatus.CLOSED,
        closed_at=timezone.now(),
        entrant_count=len(ids),
        winners_wanted=1,
        entrants_hash=algorithm.entrants_hash(ids),
    )
    draw.refresh_from_db()
    still_open = Draw.objects.get(prize=make_prize(event))
    for user_id in rng.sample(range(1, 5200), 60) + ids[:3] + ids[-3:]:
        with django_assert_num_queries(1):
            first = selectors.entrant_listed(draws=[draw, still_open], user_id=user_id)
        assert first == ({draw.pk} if user_id in ids else set()), user_id
        with django_assert_num_queries(0):  # the frozen list's answer is remembered
            assert selectors.entrant_listed(draws=[draw], user_id=user_id) == first
    with django_assert_num_queries(0):  # open draws have no list to read
        assert selectors.entrant_listed(draws=[still_open], user_id=ids[0]) == set()


# --- a finished event, the draw page, production ----------------------------------------


def test_drawn_prize_links_to_its_results(event: Event, client: Client) -> None:
    make_entrants(event, 4)
    prize = make_prize(event, name="Golden mug", quantity=1)
    services.draw_close_entries(prize=prize, actor=None)
    services.draw_run(prize=prize, actor=None, confirm=False)
    draw = Draw.objects.get(prize=prize)
    body = page(client, event)
    assert "<strong>Finished:</strong>" in body
    html = card(body, prize)
    assert attribute(html, "data-status") == "drawn"
    assert f'<a href="/prizes/draws/{draw.pk}/">Public draw page: the results</a>' in html
    # The draw page links back to the event (and says how to look for one's id).
    draw_page = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    assert f'<a href="/events/{event.slug}/">{event.name}</a>' in draw_page
    assert (
        f"curl -s http://testserver/prizes/draws/{draw.pk}/entrants.txt | grep -x "
        "<var>your-entrant-id</var>"
    ) in draw_page


def test_draw_page_of_an_unpublished_event_does_not_link_to_it(client: Client) -> None:
    hidden = EventFactory(published=False, day_count=1)
    draw = Draw.objects.get(prize=make_prize(hidden))
    body = client.get(f"/prizes/draws/{draw.pk}/").content.decode()
    assert hidden.name in body
    assert f"/events/{hidden.slug}/" not in body


def test_a_prize_without_a_draw_says_so(event: Event, client: Client) -> None:
    prize = Prize.objects.create(event=event, name="Not set up", fulfilment="manual")
    player = UserFactory()
    html = card(page(as_player(player), event), prize)
    assert attribute(html, "data-status") == "unset"
    assert "The draw is not set up yet" in html
    assert "curl" not in html


def test_event_without_prizes(client: Client) -> None:
    event = EventFactory(day_count=1)
    assert '<p class="muted">This event has no prizes.</p>' in page(client, event)


def test_the_pages_work_in_production(event: Event) -> None:
    [player] = make_entrants(event, 1)
    with production():
        prize = make_prize(event, name="Real mug", quantity=1)
        services.draw_close_entries(prize=prize, actor=None)
        make_prize(event, name="Real cap")
        viewer = as_player(player)
        assert attribute(card(page(viewer, event), prize), "data-listed") == "true"
        assert viewer.get("/prizes/mine/").status_code == 200
        assert Client().get("/").status_code == 200


# --- fast: the same queries for one prize or many --------------------------------------


def _event_page_queries(client: Client, event: Event) -> int:
    with CaptureQueriesContext(connection) as queries:
        page(client, event)
    return len(queries)


@pytest.mark.parametrize("signed_in", [True, False])
def test_event_page_reads_prizes_without_a_query_per_prize(
    signed_in: bool, django_assert_max_num_queries: Any
) -> None:
    one, many = EventFactory(day_count=2), EventFactory(day_count=2)
    player = UserFactory()
    for event, count in ((one, 2), (many, 7)):
        complete(player, event, Tier.NORMAL)
        make_entrants(event, 2)
        prizes = [make_prize(event, name=f"Prize {n}", quantity=1) for n in range(count)]
        # Closed, and open; with more prizes, one drawn too.
        services.draw_close_entries(prize=prizes[0], actor=None)
        if count > 2:
            services.draw_close_entries(prize=prizes[1], actor=None)
            services.draw_run(prize=prizes[1], actor=None, confirm=False)
    client = as_player(player) if signed_in else Client()
    assert _event_page_queries(client, many) == _event_page_queries(client, one)
    with django_assert_max_num_queries(11 if signed_in else 5):
        page(client, many)


def test_my_prizes_reads_prizes_without_a_query_per_prize(
    django_assert_max_num_queries: Any,
) -> None:
    player = UserFactory()
    events = [EventFactory(day_count=1) for _ in range(4)]
    for event in events:
        complete(player, event, Tier.NORMAL)
    client = as_player(player)

    def count() -> int:
        # The lookups in the lists are remembered (and the session with them): a cold
        # cache each time, so both counts include them.
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/prizes/mine/").status_code == 200
        return len(queries)

    services.draw_close_entries(prize=make_prize(events[0], name="First"), actor=None)
    make_prize(events[1], name="Second")
    few = count()
    for event in events:
        services.draw_close_entries(prize=make_prize(event, name="Closed"), actor=None)
        make_prize(event, name="Open")
    assert count() == few
    with django_assert_max_num_queries(6):  # the lists' lookups are remembered now
        client.get("/prizes/mine/")
