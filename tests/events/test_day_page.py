"""The day page's selector agrees with the ORM selectors it stands for, and the page
stays within its query budget (the most requested page)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import User
from daylock.events import rendering, selectors
from daylock.events.models import Challenge, Day, DayUnlock, Event, Feedback, Progress, Tier
from tests.config_override import production

from .factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def _challenges_for(day: Day) -> dict[Tier, Challenge]:
    """The reference read the day page's one statement must agree with (plain ORM)."""
    return {Tier(c.tier): c for c in Challenge.objects.filter(day=day)}


def _solved_tiers(user: User | None, day: Day) -> set[Tier]:
    if user is None or not user.is_authenticated:
        return set()
    return {
        Tier(t) for t in Progress.objects.filter(user=user, day=day).values_list("tier", flat=True)
    }


def by_orm(slug: str, number: int, user: User | None) -> tuple[Any, ...] | None:
    """What the page showed before issue 7, from the ORM selectors."""
    try:
        event = selectors.event_get(slug=slug)
        day = selectors.day_get_open(event=event, number=number, user_id=user.pk if user else None)
    except Http404:
        return None
    feedback = selectors.feedback_get(user=user, event=event, day=day) if user else None
    return (
        event.pk,
        day.pk,
        {tier: c.prompt for tier, c in _challenges_for(day).items()},
        _solved_tiers(user, day),
        feedback.rating if feedback else None,
    )


def by_page(slug: str, number: int, user: User | None) -> tuple[Any, ...] | None:
    try:
        page = selectors.day_page_get(slug=slug, number=number, user_id=user.pk if user else None)
    except Http404:
        return None
    return (
        page.event.pk,
        page.day.pk,
        {tier: c.prompt for tier, c in page.challenges.items()},
        set(page.solved),
        page.feedback_rating,
    )


def agree(slug: str, numbers: range, users: list[User | None]) -> list[tuple[Any, ...] | None]:
    """Both ways agree for every day number and user; returns the results."""
    results = []
    for user in users:
        for number in numbers:
            expected = by_orm(slug, number, user)
            assert by_page(slug, number, user) == expected, (slug, number, user)
            results.append(expected)
    return results


def test_agrees_with_the_orm_selectors_on_progress_and_feedback() -> None:
    event = EventFactory(slug="agree", day_count=3)
    days = {d.number: d for d in event.days.all()}
    alice, bob = UserFactory(), UserFactory()
    now = timezone.now()
    Progress.objects.create(user=alice, day=days[1], tier=Tier.NORMAL, solved_at=now)
    Progress.objects.create(user=alice, day=days[2], tier=Tier.NORMAL, solved_at=now)
    Progress.objects.create(user=alice, day=days[2], tier=Tier.VETERAN, solved_at=now)
    Progress.objects.create(user=bob, day=days[3], tier=Tier.VETERAN, solved_at=now)
    Feedback.objects.create(user=alice, event=event, day=days[2], rating=4)
    Feedback.objects.create(user=alice, event=event, day=None, rating=2)  # the event's
    Feedback.objects.create(user=bob, event=event, day=days[1], rating=5)
    results = agree("agree", range(0, 6), [alice, bob, None])
    assert results[1] is not None and results[1][3] == {Tier.NORMAL}  # alice, day 1
    assert results[2] is not None and results[2][3:] == ({Tier.NORMAL, Tier.VETERAN}, 4)
    assert results[3] is not None and results[3][3:] == (set(), None)  # bob's is not hers


def test_agrees_on_missing_unpublished_shortened_and_challenge_less_days() -> None:
    EventFactory(slug="draft", published=False)
    EventFactory(slug="bare", days__challenges=False)
    shortened = EventFactory(slug="short", day_count=3)
    Event.objects.filter(pk=shortened.pk).update(day_count=2)  # day 3's row stays
    users: list[User | None] = [UserFactory(), None]
    assert agree("draft", range(1, 3), users) == [None] * 4
    assert agree("short", range(1, 4), users)[2] is None
    bare = agree("bare", range(1, 2), users)[0]
    assert bare is not None and bare[2] == {}
    assert agree("no-such-event", range(1, 2), users) == [None, None]
    with pytest.raises(Http404):
        selectors.day_page_get(slug="short", number=100_000, user_id=None)


def test_agrees_on_time_locks_across_dst_and_moved_clocks(set_clock: Callable[..., None]) -> None:
    # Berlin, last Sunday of March 2025: day 2 opens at 23:00 UTC, day 3 at 22:00 UTC.
    EventFactory(slug="dst", time_zone="Europe/Berlin", starts_on=dt.date(2025, 3, 29))
    alice, bob = UserFactory(), UserFactory()
    users: list[User | None] = [alice, bob, None]
    for instant, open_days in [
        (datetime(2025, 3, 29, 22, 59, 59, tzinfo=UTC), 1),
        (datetime(2025, 3, 29, 23, 0, 1, tzinfo=UTC), 2),
        (datetime(2025, 3, 30, 21, 59, 59, tzinfo=UTC), 2),
        (datetime(2025, 3, 30, 22, 0, 1, tzinfo=UTC), 3),
    ]:
        set_clock(instant)
        with clock.request_scope():
            results = agree("dst", range(1, 4), users)
        assert [r is not None for r in results[:3]] == [n <= open_days for n in (1, 2, 3)]
    set_clock(datetime(2025, 3, 28, 12, tzinfo=UTC))
    set_clock(datetime(2025, 4, 30, tzinfo=UTC), user_id=alice.pk)  # only her clock
    results = agree("dst", range(1, 4), users)
    assert [r is not None for r in results] == [True] * 3 + [False] * 6


def test_agrees_on_early_unlocks_and_ignores_them_in_production() -> None:
    event = EventFactory(slug="later", starts_on=timezone.now().date() + timedelta(days=5))
    days = {d.number: d for d in event.days.all()}
    alice, bob = UserFactory(), UserFactory()
    DayUnlock.objects.create(day=days[1])  # everyone
    DayUnlock.objects.create(day=days[2], user=alice)
    users: list[User | None] = [alice, bob, None]
    results = agree("later", range(1, 4), users)
    opened = [r is not None for r in results]
    assert opened[0:3] == [True, True, False]  # alice: day 1 (everyone's), day 2 (hers)
    assert opened[3:6] == opened[6:9] == [True, False, False]  # bob, anonymous: day 1
    with production():
        assert agree("later", range(1, 4), users) == [None] * 9


def test_loads_the_shown_fields_in_model_order_and_not_the_answers() -> None:
    event = EventFactory(slug="fields", time_zone="Asia/Tokyo", description="long text")
    page = selectors.day_page_get(slug="fields", number=2, user_id=None)
    day = Day.objects.get(event=event, number=2)
    for field in ["id", "slug", "name", "time_zone", "starts_on", "day_count", "published"]:
        assert getattr(page.event, field) == getattr(event, field), field
    for field in ["id", "event_id", "number", "title", "body_markdown"]:
        assert getattr(page.day, field) == getattr(day, field), field
    assert page.day.event is page.event
    assert list(page.challenges) == [Tier.NORMAL, Tier.VETERAN]
    for challenge in page.challenges.values():
        assert challenge.day is page.day
        assert "answer" in challenge.get_deferred_fields()


def count_queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


#: The user's row (Django's get_user) and the day page's statement.
PAGE_QUERIES = 2


def test_logged_in_day_page_queries(client: Client) -> None:
    """Staging (the tests' environment) may move clocks and unlock days early: besides
    the page's queries, one read of the override table; the early unlocks are part of
    the page's statement."""
    EventFactory(slug="budget")
    client.force_login(UserFactory())
    queries = count_queries(client, "/events/budget/day/2/")
    assert len(queries) == PAGE_QUERIES + 1, queries
    assert sum("core_clockoverride" in q for q in queries) == 1
    assert sum("events_dayunlock" in q for q in queries) == 1


@pytest.mark.django_db(transaction=True)
def test_production_day_page_reads_no_clock_and_no_unlocks(client: Client) -> None:
    """As served (no transaction around the request): in production the page is the
    user's row and the page's statement; neither moved clocks nor early unlocks are
    read (from the database or the cache), since the policy says they cannot exist."""
    EventFactory(slug="budget")
    client.force_login(UserFactory())
    cache = caches["default"]
    with (
        production(),
        mock.patch.object(cache, "get_many", wraps=cache.get_many) as get_many,
        mock.patch.object(cache, "get", wraps=cache.get) as get,
    ):
        queries = count_queries(client, "/events/budget/day/2/")
    assert len(queries) == PAGE_QUERIES, queries
    assert not any("core_clockoverride" in q or "events_dayunlock" in q for q in queries)
    assert get_many.call_count == 0
    assert [call.args[0] for call in get.call_args_list] == [  # the session's copy only
        f"django.contrib.sessions.cached_db{client.cookies[settings.SESSION_COOKIE_NAME].value}"
    ]


def test_anonymous_day_page_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    EventFactory(slug="budget")
    with production(), django_assert_max_num_queries(1):
        assert client.get("/events/budget/day/2/").status_code == 200


@pytest.mark.parametrize("change", ["banned", "deactivated", "deleted", "logged_out"])
def test_a_session_that_no_longer_logs_anyone_in_sees_the_anonymous_page(
    client: Client, change: str
) -> None:
    """A banned, deactivated or deleted user (or a session whose user logged out
    elsewhere) gets the page as an anonymous visitor, nothing of the user's."""
    event = EventFactory(slug="claims", starts_on=timezone.now().date())
    user = UserFactory(username="claimant")
    day = event.days.get(number=1)
    Progress.objects.create(user=user, day=day, tier=Tier.NORMAL, solved_at=timezone.now())
    client.force_login(user)
    assert "claimant" in client.get("/events/claims/day/1/").content.decode()
    if change == "banned":
        User.objects.filter(pk=user.pk).update(is_banned=True)
    elif change == "deactivated":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "deleted":
        Progress.objects.filter(user=user).delete()
        user.delete()
    else:  # a new password hash invalidates every session (Django's session hash)
        User.objects.filter(pk=user.pk).update(password="!changed")
    body = client.get("/events/claims/day/1/").content.decode()
    assert "claimant" not in body
    assert "badge ok" not in body  # the claimed user's progress is not shown
    assert "to answer." in body  # the anonymous "Log in to answer" prompt


def test_a_day_locked_by_the_users_own_clock_is_404_only_for_them(
    client: Client, set_clock: Callable[..., None]
) -> None:
    EventFactory(slug="past", starts_on=timezone.now().date())
    user = UserFactory()
    set_clock(timezone.now() - timedelta(days=3), user_id=user.pk)
    assert client.get("/events/past/day/1/").status_code == 200
    client.force_login(user)
    assert client.get("/events/past/day/1/").status_code == 404


def test_markdown_is_rendered_once_per_text_and_changes_show_at_once(client: Client) -> None:
    event = EventFactory(slug="md-once", day_count=1)
    Day.objects.filter(event=event).update(body_markdown="first *version*")
    rendering._render_cached.cache_clear()
    assert "<em>version</em>" in client.get("/events/md-once/day/1/").content.decode()
    client.get("/events/md-once/day/1/")
    info = rendering._render_cached.cache_info()
    assert (info.misses, info.hits) == (3, 3)  # the body and the two prompts
    Day.objects.filter(event=event).update(body_markdown="second **version**")
    assert "<strong>version</strong>" in client.get("/events/md-once/day/1/").content.decode()
    huge = "x" * (rendering.CACHE_MAX_CHARS + 1)
    assert rendering.render_markdown(huge) == f"<p>{huge}</p>"
    assert rendering._render_cached.cache_info().currsize == 4  # the huge one is not kept


def test_markdown_logs_nothing_per_request() -> None:
    assert not logging.getLogger("MARKDOWN").isEnabledFor(logging.INFO)


def test_answer_form_errors_still_render_with_the_cached_blank_field(client: Client) -> None:
    EventFactory(slug="form")
    client.force_login(UserFactory())
    blank = client.get("/events/form/day/1/").content.decode()
    assert 'id="id_normal_answer"' in blank and 'id="id_veteran_answer"' in blank
    assert 'for="id_normal_answer"' in blank
    too_long = "x" * 1001
    page = client.post("/events/form/day/1/answer/normal/", {"answer": too_long})
    assert page.status_code == 400
    body = page.content.decode()
    assert "Answers are at most 1000 characters" in body
    assert f'value="{too_long}"' in body  # the bound field keeps what was typed
    assert 'id="id_veteran_answer"' in body and "Submit veteran answer" in body


SQLITE_PAGE = """
from django.test import Client
from daylock.accounts.models import User
from daylock.events.models import Day, Progress, Tier
from daylock import clock
user = User.objects.create(username="sqlite-player")
day = Day.objects.get(event__slug="daylock-demo", number=1)
Progress.objects.create(user=user, day=day, tier=Tier.VETERAN, solved_at=clock.now())
client = Client()
client.force_login(user)
page = client.get("/events/daylock-demo/day/1/")
body = page.content.decode()
veteran = body.split('data-tier="veteran"')[1]
print(page.status_code, "You solved this one." in veteran, "id_normal_answer" in body)
print(client.get("/events/daylock-demo/day/7/").status_code)
"""


def test_the_day_page_runs_on_the_sqlite_development_default(tmp_path: object) -> None:
    from tests.conftest import run_daylock

    env = {"APP_ENV": "development", "DAYLOCK_VAR_DIR": str(tmp_path)}
    for args in [("migrate", "--no-input"), ("demo_data",)]:
        done = run_daylock(*args, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
    shown = run_daylock("shell", "-c", SQLITE_PAGE, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-2:] == ["200 True True", "404"]
