from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from daylock.accounts.models import User
from daylock.events.models import Day, Tier

from .factories import EventFactory, FeedbackFactory, UserFactory, complete

pytestmark = pytest.mark.django_db


def test_events_list_shows_published_events_only(client: Client) -> None:
    EventFactory(name="Advent of Tests", slug="advent")
    EventFactory(name="Secret Draft", published=False)
    body = client.get("/events/").content.decode()
    assert '<a href="/events/advent/">Advent of Tests</a>' in body
    assert "Secret Draft" not in body
    assert '<a href="/events/">Events</a>' in body  # nav link
    assert "/events/profile/" not in body  # only for logged-in users


def test_calendar_shows_each_day_state(client: Client) -> None:
    today = timezone.now().date()
    event = EventFactory(slug="cal", starts_on=today - dt.timedelta(days=3), day_count=6)
    user = UserFactory()
    day = {d.number: d for d in event.days.all()}
    complete(user, event, Tier.NORMAL, days=1)
    complete(user, event, Tier.VETERAN, days=2)
    Day.objects.filter(pk=day[2].pk).update(title="Second")
    day[2].progress.filter(tier=Tier.NORMAL).delete()  # day 2: veteran only
    day[4].delete()  # open by date, but nothing written
    client.force_login(user)
    body = client.get("/events/cal/").content.decode()
    assert 'data-day="1" data-state="solved-both"' in body
    assert 'data-day="2" data-state="solved-veteran"' in body
    assert 'data-day="3" data-state="open"' in body
    assert 'data-day="4" data-state="missing"' in body
    assert 'data-day="5" data-state="locked"' in body
    assert "Day 5 — locked, opens" in body
    assert "Day 5 title" not in body and "Day 6 title" not in body
    assert '<a href="/events/cal/day/3/">Day 3 — Day 3 title</a>' in body
    assert "Give feedback on the event" in body


def test_day_page_renders_markdown_safely(client: Client) -> None:
    event = EventFactory(slug="md", day_count=1)
    Day.objects.filter(event=event).update(
        body_markdown=(
            "# Heading\n\nSome *text* and a [link](https://example.org).\n\n"
            "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
            "[bad](javascript:alert(1))\n\n```\ncode <b>\n```\n"
        )
    )
    body = client.get("/events/md/day/1/").content.decode()
    assert "<h1>Heading</h1>" in body
    assert "<em>text</em>" in body
    assert 'href="https://example.org" rel="noopener noreferrer nofollow"' in body
    assert "<script>" not in body.split('class="day-body"')[1].split("</article>")[0]
    assert "alert('x')" not in body
    assert "onerror" not in body
    assert "javascript:" not in body
    assert "<code>code &lt;b&gt;" in body
    assert 'href="/auth/login/?next=%2Fevents%2Fmd%2Fday%2F1%2F"' in body  # anonymous


def test_day_page_shows_both_challenges_and_solved_state(client: Client) -> None:
    event = EventFactory(slug="d", day_count=1)
    user = UserFactory()
    complete(user, event, Tier.VETERAN)
    client.force_login(user)
    body = client.get("/events/d/day/1/").content.decode()
    assert "Normal prompt 1" in body and "Veteran prompt 1" in body
    assert 'action="/events/d/day/1/answer/normal/"' in body
    assert 'action="/events/d/day/1/answer/veteran/"' not in body
    assert "You solved this one." in body
    assert "veteran-1" not in body  # answers never reach the page


def test_profile_shows_completion_per_event(client: Client) -> None:
    done = EventFactory(slug="done", name="Done Event", day_count=2)
    half = EventFactory(slug="half", name="Half Event", day_count=2)
    user = UserFactory(username="alice")
    complete(user, done, Tier.NORMAL)
    complete(user, done, Tier.VETERAN)
    complete(user, half, Tier.NORMAL, days=1)
    FeedbackFactory(user=user, event=half, comment="<i>hi</i>")
    other: User = UserFactory()
    complete(other, half, Tier.NORMAL)  # someone else's progress is not mine
    assert client.get("/events/profile/").status_code == 302
    client.force_login(user)
    body = client.get("/events/profile/").content.decode()
    assert re.search(r'<h1 class="profile-name">(<img [^>]+> )?alice</h1>', body)
    done_row = body.split('data-event="done"')[1].split("</tr>")[0]
    assert "2/2" in done_row and 'data-completion="veteran"' in done_row
    half_row = body.split('data-event="half"')[1].split("</tr>")[0]
    assert "1/2" in half_row and 'data-completion="none"' in half_row and "given" in half_row
    assert '<a href="/events/profile/">Profile</a>' in body


def test_staff_admin_pages_load(client: Client) -> None:
    event = EventFactory(slug="adm")
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    FeedbackFactory(user=user, event=event)
    admin = User.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    day = event.days.get(number=1)
    for url in (
        "/admin/events/event/",
        f"/admin/events/event/{event.pk}/change/",
        "/admin/events/event/add/",
        f"/admin/events/day/{day.pk}/change/",
        "/admin/events/challenge/",
        "/admin/events/progress/",
        "/admin/events/wronganswer/",
        "/admin/events/feedback/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/events/feedback/add/").status_code == 403
