"""The leaderboard's standings table stays true on every path that writes progress or
changes what counts (days, ``day_count``, start date, time zone): answering, the test
utility, the factories, ``completion_refresh`` itself, the admin, the staff editor,
the demo data, the seed (small and bulk) and the 0004 migration that fills it. Each is
compared with a from-scratch computation (:mod:`tests.events.leaderboard_checks`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from daylock.accounts.models import User
from daylock.events import authoring, demo, leaderboard, services
from daylock.events.models import Day, DayUnlock, Event, LeaderboardEntry, Progress, Tier
from daylock.staging import seed
from daylock.staging import services as testtools
from daylock.staging.seed import SeedOptions, seed_database
from daylock.staging.services import Actor

from .factories import EventFactory, ProgressFactory, UserFactory, answer_for, complete
from .leaderboard_checks import assert_standings_true, expected_standings, stored_standings

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _answer(user: User, event: Event, number: int, tier: Tier) -> services.Outcome:
    day = event.days.get(number=number)
    result = services.answer_submit(user=user, day=day, tier=tier, answer=answer_for(tier, number))
    return result.outcome


def _entry(user: User, event: Event) -> LeaderboardEntry:
    return LeaderboardEntry.objects.get(user=user, event=event)


def _solve_at(user: User, day: Day, tier: Tier, at: dt.datetime) -> None:
    """Progress behind the services' back (tests then call the writer under test)."""
    Progress.objects.create(user=user, day=day, tier=tier, solved_at=at)


# --- answering --------------------------------------------------------------------------


def test_answering_adds_then_updates_the_players_row() -> None:
    event = EventFactory(day_count=3)
    user, other = UserFactory(), UserFactory()
    assert _answer(user, event, 2, Tier.NORMAL) is services.Outcome.CORRECT
    assert _entry(user, event).stars == 1
    assert_standings_true(event)
    assert _answer(user, event, 2, Tier.VETERAN) is services.Outcome.CORRECT
    assert _answer(user, event, 1, Tier.NORMAL) is services.Outcome.CORRECT
    assert _answer(other, event, 3, Tier.NORMAL) is services.Outcome.CORRECT
    assert _entry(user, event).stars == 3
    assert_standings_true(event)
    # Numbered in order of first solve, per event.
    assert _entry(user, event).anonymous_number == 1
    assert _entry(other, event).anonymous_number == 2


def test_solving_again_or_wrongly_changes_nothing() -> None:
    event = EventFactory(day_count=1)
    user = UserFactory()
    _answer(user, event, 1, Tier.NORMAL)
    before = stored_standings(event)
    assert _answer(user, event, 1, Tier.NORMAL) is services.Outcome.ALREADY_SOLVED
    day = event.days.get()
    wrong = services.answer_submit(user=user, day=day, tier=Tier.VETERAN, answer="nope")
    assert wrong.outcome is services.Outcome.WRONG
    assert stored_standings(event) == before
    stranger = UserFactory()
    services.answer_submit(user=stranger, day=day, tier=Tier.NORMAL, answer="nope")
    assert not LeaderboardEntry.objects.filter(user=stranger).exists()


def test_answering_counts_only_days_up_to_day_count() -> None:
    event = EventFactory(day_count=3)
    Event.objects.filter(pk=event.pk).update(day_count=2)
    event.refresh_from_db()
    user = UserFactory()
    _answer(user, event, 3, Tier.NORMAL)  # the day exists and is open, but does not count
    assert stored_standings(event) == {}
    _answer(user, event, 1, Tier.NORMAL)
    assert _entry(user, event).stars == 1
    assert_standings_true(event)


def test_a_solve_before_the_unlock_counts_zero_seconds() -> None:
    """Only a test utility opens a day early; it must not earn negative time."""
    today = dt.datetime.now(UTC).date()
    event = EventFactory(day_count=3, starts_on=today)  # day 3 opens in two days
    user = UserFactory()
    DayUnlock.objects.create(day=event.days.get(number=3), user=user)
    assert _answer(user, event, 3, Tier.NORMAL) is services.Outcome.CORRECT
    assert _entry(user, event).total_seconds == 0
    assert_standings_true(event)


# --- the test utility and the factories ---------------------------------------------------


def test_mark_completed_and_factories_keep_the_table_true() -> None:
    event = EventFactory(day_count=2)
    user, other = UserFactory(), UserFactory()
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
    assert _entry(user, event).stars == 2
    ProgressFactory(user=other, day=event.days.get(number=1))
    complete(other, event, Tier.VETERAN, days=1)
    assert _entry(other, event).stars == 2
    assert_standings_true(event)


# --- completion_refresh (every other writer goes through it) --------------------------------


def test_refresh_follows_changes_made_behind_its_back() -> None:
    event, other_event = EventFactory(day_count=2), EventFactory(day_count=2)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    complete(a, event, Tier.NORMAL)
    complete(b, event, Tier.NORMAL, days=1)
    complete(c, other_event, Tier.VETERAN)
    number_of_a = _entry(a, event).anonymous_number
    # Behind the services' back: a loses everything, b gains a day, c's time changes.
    Progress.objects.filter(user=a).delete()
    _solve_at(b, event.days.get(number=2), Tier.VETERAN, dt.datetime(2024, 1, 2, 5, tzinfo=UTC))
    Progress.objects.filter(user=c).update(solved_at=dt.datetime(2024, 1, 3, tzinfo=UTC))
    services.completion_refresh(event=event, user_ids=[b.pk])  # only b
    assert stored_standings(event).keys() == {a.pk, b.pk}
    assert _entry(b, event).stars == 2
    services.completion_refresh(event=event)
    assert stored_standings(event).keys() == {b.pk}
    # a keeps a zeroed row, so their anonymous number stays theirs when they come back.
    assert (_entry(a, event).stars, _entry(a, event).last_solved_at) == (0, None)
    _answer(a, event, 1, Tier.NORMAL)
    assert _entry(a, event).anonymous_number == number_of_a
    services.completion_refresh(event=other_event, user_ids=iter([c.pk, c.pk]))
    assert _entry(c, other_event).total_seconds == 2 * 86400 + 86400  # day 1 + day 2
    services.completion_refresh(event=event, user_ids=[])  # nothing to do
    assert_standings_true()


def test_refresh_of_many_users_runs_in_batches() -> None:
    event = EventFactory(day_count=1)
    users = [UserFactory() for _ in range(3)]
    day = event.days.get()
    for user in users:
        _solve_at(user, day, Tier.NORMAL, dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    many = [u.pk for u in users] + list(range(10**9, 10**9 + leaderboard._USER_BATCH * 2))
    services.completion_refresh(event=event, user_ids=many)
    assert stored_standings(event) == {
        u.pk: (1, 60, dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC)) for u in users
    }
    assert_standings_true(event)


def test_an_event_without_counting_days_has_no_stars() -> None:
    event = EventFactory(day_count=1)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    Day.objects.filter(event=event).delete()
    services.completion_refresh(event=event)
    assert stored_standings(event) == {}
    assert_standings_true(event)


def test_adding_missing_standings_of_every_event_at_once() -> None:
    """The seed's bulk path: only adds, never duplicates, numbers after existing rows."""
    first, second = EventFactory(day_count=2), EventFactory(day_count=1)
    a, b = UserFactory(), UserFactory()
    complete(a, first, Tier.NORMAL)
    at = dt.datetime(2024, 1, 2, 1, tzinfo=UTC)
    for day in first.days.all():
        _solve_at(b, day, Tier.VETERAN, at)
    _solve_at(a, second.days.get(), Tier.NORMAL, at)
    assert leaderboard.standings_add_missing() == 2
    assert leaderboard.standings_add_missing() == 0
    assert _entry(b, first).anonymous_number == 2
    assert _entry(a, second).anonymous_number == 1
    assert_standings_true()


# --- the admin and the staff editor ---------------------------------------------------------


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


def _ok(response: Any) -> None:
    assert response.status_code == 302, [
        line for line in response.content.decode().splitlines() if "error" in line.lower()
    ]


def test_admin_progress_add_change_and_delete(admin_client: Client) -> None:
    event = EventFactory(day_count=2)
    user, other = UserFactory(), UserFactory()
    complete(user, event, Tier.NORMAL, days=1)
    day2 = event.days.get(number=2)
    form = {"user": user.pk, "day": day2.pk, "tier": "normal",
            "solved_at_0": "2024-01-02", "solved_at_1": "10:00:00"}  # fmt: skip
    _ok(admin_client.post("/admin/events/progress/add/", form))
    assert _entry(user, event).stars == 2
    assert_standings_true(event)
    row = Progress.objects.get(user=user, day=day2)
    _ok(admin_client.post(f"/admin/events/progress/{row.pk}/change/", form | {"user": other.pk}))
    assert (_entry(user, event).stars, _entry(other, event).stars) == (1, 1)
    assert_standings_true(event)
    _ok(admin_client.post(f"/admin/events/progress/{row.pk}/delete/", {"post": "yes"}))
    assert _entry(other, event).stars == 0
    assert_standings_true(event)


def _event_form(event: Event, **changes: Any) -> dict[str, Any]:
    days = list(event.days.order_by("number"))
    form: dict[str, Any] = {
        "slug": event.slug, "name": event.name, "description": event.description,
        "time_zone": event.time_zone, "starts_on": event.starts_on.isoformat(),
        "day_count": event.day_count, "published": "on",
        "days-TOTAL_FORMS": len(days), "days-INITIAL_FORMS": len(days),
        "days-MIN_NUM_FORMS": 0, "days-MAX_NUM_FORMS": 1000,
    }  # fmt: skip
    for i, day in enumerate(days):
        form |= {f"days-{i}-id": day.pk, f"days-{i}-event": event.pk,
                 f"days-{i}-number": day.number, f"days-{i}-title": day.title,
                 f"days-{i}-body_markdown": day.body_markdown}  # fmt: skip
    return form | changes


def test_admin_changing_start_time_zone_and_day_count_recomputes(admin_client: Client) -> None:
    event = EventFactory(day_count=2)
    user = UserFactory()
    for number in (1, 2):
        day = event.days.get(number=number)
        _solve_at(user, day, Tier.NORMAL, day.unlocks_at + dt.timedelta(hours=30))
    services.completion_refresh(event=event, user_ids=[user.pk])
    assert _entry(user, event).total_seconds == 2 * 30 * 3600
    url = f"/admin/events/event/{event.pk}/change/"
    # The days now open a day earlier: a day more per solve.
    _ok(admin_client.post(url, _event_form(event, starts_on="2023-12-31")))
    assert _entry(user, event).total_seconds == 2 * 54 * 3600
    assert_standings_true(event)
    # Midnight in Berlin is an hour earlier than in UTC (winter): an hour more per solve.
    event.refresh_from_db()
    _ok(admin_client.post(url, _event_form(event, time_zone="Europe/Berlin")))
    assert _entry(user, event).total_seconds == 2 * 55 * 3600
    assert_standings_true(event)
    event.refresh_from_db()
    _ok(admin_client.post(url, _event_form(event, day_count=1) | {"days-1-DELETE": "on"}))
    assert _entry(user, event).stars == 1
    assert_standings_true(event)


def test_the_staff_editor_moving_the_start_recomputes() -> None:
    admin = User.objects.create_superuser("editor", "editor@example.org", "pw")
    event = EventFactory(day_count=2)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    moved = authoring.event_input_of(event) | {"starts_on": dt.date(2023, 12, 25)}
    data = authoring.EventInput(**moved)
    days = [authoring.DayInput(**values) for values in authoring.day_inputs_of(event)]
    authoring.event_save(event=event, data=data, days=days, actor=admin, confirm_seen=True)
    event.refresh_from_db()
    assert event.starts_on == dt.date(2023, 12, 25)
    assert_standings_true(event)


# --- demo data, seed, migration ----------------------------------------------------------------


def test_demo_data_keeps_the_table_true() -> None:
    demo.demo_event_ensure()
    event = Event.objects.get(slug=demo.DEMO_SLUG)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    Event.objects.filter(pk=event.pk).update(day_count=8)
    services.completion_refresh(event=event)
    demo.demo_event_ensure()
    assert_standings_true(event)
    assert _entry(user, event).stars == event.day_count


ANCHOR = dt.datetime(2026, 6, 15, tzinfo=UTC)


def test_a_small_seed_and_an_added_one_keep_the_table_true() -> None:
    seed_database(SeedOptions(users=30), anchor=ANCHOR)
    assert_standings_true()
    running = Event.objects.get(slug=seed.RUNNING_SLUG)
    assert len(stored_standings(running)) > 10
    seed_database(SeedOptions(users=12), anchor=ANCHOR, add=True)
    assert_standings_true()


def test_the_bulk_seed_fills_the_table_and_rebuilds_its_constraints() -> None:
    table = LeaderboardEntry._meta.db_table

    def rules() -> set[tuple[str, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid::regclass::text = %s",
                [table],
            )
            found = {tuple(map(str, row)) for row in cursor.fetchall()}
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table]
            )
            return found | {tuple(map(str, row)) for row in cursor.fetchall()}

    before = rules()
    assert sum(1 for _, definition in before if "FOREIGN KEY" in definition) == 2
    seed_database(SeedOptions(users=seed.BULK_LOAD_USERS), anchor=ANCHOR)
    assert rules() == before
    past = Event.objects.get(slug=seed.PAST_SLUG)
    assert len(stored_standings(past)) > 3000
    assert_standings_true()


@pytest.mark.django_db(transaction=True)
def test_migration_fills_the_table_from_existing_progress() -> None:
    event = EventFactory(day_count=2, time_zone="America/New_York")
    other = EventFactory(day_count=3)
    a, b = UserFactory(), UserFactory()
    day1, day2 = event.days.get(number=1), event.days.get(number=2)
    _solve_at(b, day1, Tier.NORMAL, day1.unlocks_at + dt.timedelta(minutes=5))
    _solve_at(a, day2, Tier.VETERAN, day2.unlocks_at + dt.timedelta(minutes=1))
    _solve_at(a, day1, Tier.NORMAL, day1.unlocks_at + dt.timedelta(minutes=9))
    complete(a, other, Tier.NORMAL)
    Event.objects.filter(pk=other.pk).update(day_count=2)  # day 3 no longer counts
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("events", "0003_event_discord_ids")])
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert LeaderboardEntry._meta.db_table not in tables
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert_standings_true(event, other)
    assert expected_standings(event)[a.pk][:2] == (2, 10 * 60)
    # b's first solve (day 1) came before a's first (day 2, a day later).
    assert _entry(b, event).anonymous_number == 1
    assert _entry(a, event).anonymous_number == 2
    assert _entry(a, other).stars == 2


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_solves_get_distinct_anonymous_numbers() -> None:
    """Six players new to the event solve at once, plus one solving twice: the event's
    row lock numbers each new player once, after the last number."""
    import threading

    event = EventFactory(slug="rush", day_count=2)
    early = UserFactory()
    _answer(early, event, 1, Tier.NORMAL)
    players = [UserFactory() for _ in range(6)]
    barrier = threading.Barrier(len(players) + 1)
    errors: list[BaseException] = []

    def submit(user: User, number: int) -> None:
        try:
            barrier.wait(5)
            _answer(user, event, number, Tier.NORMAL)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(user, 1)) for user in players]
    threads.append(threading.Thread(target=submit, args=(early, 2)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    numbers = sorted(LeaderboardEntry.objects.filter(event=event).values_list(
        "anonymous_number", flat=True))  # fmt: skip
    assert numbers == [1, 2, 3, 4, 5, 6, 7]
    assert _entry(early, event).anonymous_number == 1
    assert _entry(early, event).stars == 2
    assert_standings_true(event)
