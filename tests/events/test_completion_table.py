"""The completion table stays true on every path that writes progress or changes which
days count: answering, the test utility, the admin (progress, days, day_count), the
demo data, factories, and the 0002 migration that fills it from existing progress.
(The seed is checked in ``tests/staging/test_seed.py``.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from daylock.accounts.models import User
from daylock.events import demo, selectors, services
from daylock.events.models import Day, Event, EventCompletion, Progress, Tier
from daylock.staging import services as testtools
from daylock.staging.services import Actor

from .completion_checks import assert_completions_true, stored_completions
from .factories import EventFactory, ProgressFactory, UserFactory, answer_for, complete

pytestmark = pytest.mark.django_db


def _answer(user: User, event: Event, number: int, tier: Tier) -> services.Outcome:
    day = event.days.get(number=number)
    result = services.answer_submit(user=user, day=day, tier=tier, answer=answer_for(tier, number))
    return result.outcome


def _tiers(event: Event, user: User) -> set[str]:
    return {tier for user_id, tier in stored_completions(event) if user_id == user.pk}


# --- answering ----------------------------------------------------------------------------


def test_answering_the_last_missing_day_records_the_completion() -> None:
    event = EventFactory(day_count=3)
    user, mixed = UserFactory(), UserFactory()
    for number in (3, 1):
        assert _answer(user, event, number, Tier.NORMAL) is services.Outcome.CORRECT
        assert _tiers(event, user) == set()
    assert _answer(user, event, 2, Tier.NORMAL) is services.Outcome.CORRECT
    assert _tiers(event, user) == {"normal"}
    last = Progress.objects.filter(user=user).latest("solved_at").solved_at
    assert EventCompletion.objects.get(user=user).completed_at == last
    # Solving again changes nothing; the veteran tier completes on its own.
    assert _answer(user, event, 2, Tier.NORMAL) is services.Outcome.ALREADY_SOLVED
    for number in (1, 2, 3):
        _answer(user, event, number, Tier.VETERAN)
    assert _tiers(event, user) == {"normal", "veteran"}
    # Mixing tiers across days completes neither.
    _answer(mixed, event, 1, Tier.NORMAL)
    _answer(mixed, event, 2, Tier.NORMAL)
    _answer(mixed, event, 3, Tier.VETERAN)
    assert _tiers(event, mixed) == set()
    assert_completions_true(event)


def test_a_wrong_answer_records_nothing() -> None:
    event = EventFactory(day_count=1)
    user = UserFactory()
    day = event.days.get()
    result = services.answer_submit(user=user, day=day, tier=Tier.NORMAL, answer="nope")
    assert result.outcome is services.Outcome.WRONG
    assert not EventCompletion.objects.exists()


def test_answering_only_reads_days_up_to_day_count() -> None:
    event = EventFactory(day_count=3)
    Event.objects.filter(pk=event.pk).update(day_count=2)
    event.refresh_from_db()
    user = UserFactory()
    _answer(user, event, 1, Tier.NORMAL)
    assert _tiers(event, user) == set()
    _answer(user, event, 2, Tier.NORMAL)
    assert _tiers(event, user) == {"normal"}


# --- the test utility and the factories -----------------------------------------------------


def test_mark_completed_records_only_that_tier() -> None:
    event = EventFactory(day_count=2)
    user = UserFactory()
    complete(user, event, Tier.NORMAL, days=1)
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
    assert _tiers(event, user) == {"veteran"}
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.NORMAL)
    assert _tiers(event, user) == {"normal", "veteran"}
    assert_completions_true(event)


def test_factories_keep_the_table_true() -> None:
    event = EventFactory(day_count=2)
    user = UserFactory()
    ProgressFactory(user=user, day=event.days.get(number=1))
    assert _tiers(event, user) == set()
    ProgressFactory(user=user, day=event.days.get(number=2))
    assert _tiers(event, user) == {"normal"}
    assert_completions_true(event)


# --- completion_refresh itself ----------------------------------------------------------------


def test_refresh_deletes_what_no_longer_holds_and_adds_what_does() -> None:
    event, other = EventFactory(day_count=2), EventFactory(day_count=2)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    complete(a, event, Tier.NORMAL)
    complete(b, event, Tier.NORMAL, days=1)
    complete(c, other, Tier.VETERAN)
    # Behind the service's back: a loses a day, b gains one, a solve time changes.
    Progress.objects.filter(user=a, day__number=2).delete()
    Progress.objects.create(user=b, day=event.days.get(number=2), tier=Tier.NORMAL,
                            solved_at=dt.datetime(2024, 5, 1, tzinfo=dt.UTC))  # fmt: skip
    # Only the named users are refreshed.
    services.completion_refresh(event=event, user_ids=[b.pk])
    assert stored_completions(event).keys() == {(a.pk, "normal"), (b.pk, "normal")}
    services.completion_refresh(event=event)
    assert stored_completions(event).keys() == {(b.pk, "normal")}
    Progress.objects.filter(user=b).update(solved_at=dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
    services.completion_refresh(event=event, user_ids=iter([b.pk, b.pk]))
    assert stored_completions(event)[(b.pk, "normal")] == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    services.completion_refresh(event=event, user_ids=[])  # nothing to do
    # Another event is untouched by all this.
    assert stored_completions(other).keys() == {(c.pk, "veteran")}
    assert_completions_true()


def test_adding_missing_completions_of_every_event_at_once() -> None:
    """The seed's bulk path: only adds, never duplicates, covers every event."""
    first, second = EventFactory(day_count=2), EventFactory(day_count=1)
    a, b = UserFactory(), UserFactory()
    complete(a, first, Tier.NORMAL)  # already in the table
    now = first.created_at
    Progress.objects.bulk_create(
        [Progress(user=b, day=day, tier=Tier.VETERAN, solved_at=now) for day in first.days.all()]
        + [Progress(user=a, day=second.days.get(), tier=Tier.NORMAL, solved_at=now)]
        + [Progress(user=b, day=first.days.get(number=1), tier=Tier.NORMAL, solved_at=now)]
    )
    assert services.completions_add_missing() == 2
    assert services.completions_add_missing() == 0
    assert stored_completions(first).keys() == {(a.pk, "normal"), (b.pk, "veteran")}
    assert stored_completions(second).keys() == {(a.pk, "normal")}
    assert_completions_true()


def test_refresh_of_many_users_runs_in_batches() -> None:
    event = EventFactory(day_count=1)
    users = [UserFactory() for _ in range(3)]
    day = event.days.get()
    Progress.objects.bulk_create(
        [Progress(user=u, day=day, tier=Tier.NORMAL, solved_at=event.created_at) for u in users]
    )
    many = [u.pk for u in users] + list(range(10**9, 10**9 + services._USER_BATCH * 2))
    services.completion_refresh(event=event, user_ids=many)
    assert_completions_true(event)
    assert len(stored_completions(event)) == 3


def test_eligibility_reads_the_table() -> None:
    """A completion row is what makes a user eligible (a writer that forgot the refresh
    would leave completers out of the draw; the agreement tests catch that)."""
    event = EventFactory(day_count=2)
    user = UserFactory()
    ids = selectors.eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)
    assert list(ids) == []
    EventCompletion.objects.create(user=user, event=event, tier=Tier.VETERAN,
                                   completed_at=event.created_at)  # fmt: skip
    assert list(ids.all()) == [user.pk]
    assert list(
        selectors.eligible_user_ids(event=event, min_tier=Tier.VETERAN, feedback_required=False)
    ) == [user.pk]


def test_a_user_completing_both_tiers_is_one_entrant() -> None:
    event = EventFactory(day_count=1)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    complete(user, event, Tier.VETERAN)
    assert len(stored_completions(event)) == 2
    ids = selectors.eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)
    assert list(ids) == [user.pk]


# --- the admin ------------------------------------------------------------------------------


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
            "solved_at_0": "2024-02-01", "solved_at_1": "10:00:00"}  # fmt: skip
    _ok(admin_client.post("/admin/events/progress/add/", form))
    assert _tiers(event, user) == {"normal"}
    assert_completions_true(event)

    # Moving the row to another user takes the completion away from the first.
    row = Progress.objects.get(user=user, day=day2)
    _ok(admin_client.post(f"/admin/events/progress/{row.pk}/change/", form | {"user": other.pk}))
    assert _tiers(event, user) == set()
    assert_completions_true(event)

    _ok(admin_client.post(f"/admin/events/progress/{row.pk}/change/", form))
    assert _tiers(event, user) == {"normal"}
    _ok(admin_client.post(f"/admin/events/progress/{row.pk}/delete/", {"post": "yes"}))
    assert _tiers(event, user) == set()
    assert_completions_true(event)


def test_admin_bulk_delete_of_progress(admin_client: Client) -> None:
    event = EventFactory(day_count=2)
    users = [UserFactory() for _ in range(3)]
    for user in users:
        complete(user, event, Tier.VETERAN)
    doomed = Progress.objects.filter(user__in=users[:2], day__number=1)
    action = {"action": "delete_selected", "post": "yes",
              "_selected_action": list(doomed.values_list("pk", flat=True))}  # fmt: skip
    _ok(admin_client.post("/admin/events/progress/", action))
    assert stored_completions(event).keys() == {(users[2].pk, "veteran")}
    assert_completions_true(event)


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


def test_admin_day_count_change_recomputes_the_event(admin_client: Client) -> None:
    event = EventFactory(day_count=3)
    two, three = UserFactory(), UserFactory()
    complete(two, event, Tier.NORMAL, days=2)
    complete(three, event, Tier.NORMAL)
    url = f"/admin/events/event/{event.pk}/change/"
    # Shortening needs the last day gone too (a day past day_count is a form error).
    _ok(admin_client.post(url, _event_form(event, day_count=2) | {"days-2-DELETE": "on"}))
    assert stored_completions(event).keys() == {(two.pk, "normal"), (three.pk, "normal")}
    assert_completions_true(event)
    # Lengthening: nobody has solved (or could solve) the new day yet.
    _ok(admin_client.post(url, _event_form(event, day_count=3)))
    assert stored_completions(event) == {}
    assert_completions_true(event)


def test_admin_deleting_a_day_inline_or_on_its_own(admin_client: Client) -> None:
    event = EventFactory(day_count=2)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    form = _event_form(event) | {"days-1-DELETE": "on"}
    _ok(admin_client.post(f"/admin/events/event/{event.pk}/change/", form))
    assert not Day.objects.filter(event=event, number=2).exists()
    assert stored_completions(event) == {}
    assert_completions_true(event)

    again = EventFactory(day_count=2)
    complete(user, again, Tier.VETERAN)
    day = again.days.get(number=1)
    _ok(admin_client.post(f"/admin/events/day/{day.pk}/delete/", {"post": "yes"}))
    assert stored_completions(again) == {}

    third = EventFactory(day_count=1)
    complete(user, third, Tier.NORMAL)
    action = {"action": "delete_selected", "post": "yes",
              "_selected_action": [third.days.get().pk]}  # fmt: skip
    _ok(admin_client.post("/admin/events/day/", action))
    assert stored_completions(third) == {}
    assert_completions_true()


def test_admin_adding_a_missing_day_keeps_the_table_true(admin_client: Client) -> None:
    event = EventFactory(day_count=2, days=False)
    user = UserFactory()
    Day.objects.create(event=event, number=1, title="one")
    complete(user, event, Tier.NORMAL)
    assert stored_completions(event) == {}  # day 2 has no content yet: nobody completes
    form = {"event": event.pk, "number": 2, "title": "two", "body_markdown": "",
            "challenges-TOTAL_FORMS": 0, "challenges-INITIAL_FORMS": 0,
            "challenges-MIN_NUM_FORMS": 0, "challenges-MAX_NUM_FORMS": 2}  # fmt: skip
    _ok(admin_client.post("/admin/events/day/add/", form))
    assert stored_completions(event) == {}
    ProgressFactory(user=user, day=event.days.get(number=2))
    assert _tiers(event, user) == {"normal"}
    assert_completions_true(event)


# --- demo data --------------------------------------------------------------------------------


def test_demo_data_refresh_follows_its_day_count() -> None:
    demo.demo_event_ensure()
    event = Event.objects.get(slug=demo.DEMO_SLUG)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    assert _tiers(event, user) == {"normal"}
    # Someone lengthened the event outside the services (then refreshed); the demo
    # data puts it back to seven days, and the completion with it.
    Event.objects.filter(pk=event.pk).update(day_count=8)
    services.completion_refresh(event=event)
    assert _tiers(event, user) == set()
    demo.demo_event_ensure()
    assert _tiers(event, user) == {"normal"}
    assert_completions_true(event)


# --- the migration that creates and fills the table ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_fills_the_table_from_existing_progress() -> None:
    event, other = EventFactory(day_count=2), EventFactory(day_count=3)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    complete(a, event, Tier.NORMAL)
    complete(a, event, Tier.VETERAN)
    complete(b, event, Tier.VETERAN, days=1)
    complete(c, other, Tier.VETERAN)
    Event.objects.filter(pk=other.pk).update(day_count=2)  # day 3 no longer counts
    complete(b, other, Tier.NORMAL, days=2)
    before_migration = {e.pk: stored_completions(e) for e in (event, other)}
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("events", "0001_initial")])
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert EventCompletion._meta.db_table not in tables
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert_completions_true(event, other)
    assert stored_completions(other).keys() == {(c.pk, "veteran"), (b.pk, "normal")}
    # complete() refreshed the table with (user, event) scope; other's day_count was
    # changed behind its back, which the migration's fill (a fresh start) accounts for.
    assert before_migration[event.pk] == stored_completions(event)
