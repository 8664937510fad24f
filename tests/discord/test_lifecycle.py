"""The event life cycle in the outbox: day-open posts, the last-day reminder, entries
closed and results, completion roles — each exactly once, whatever runs twice."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from daylock import clock, config
from daylock.accounts.models import User
from daylock.discord import delivery, lifecycle
from daylock.discord.models import OutboxKind, OutboxMessage
from daylock.discord.services import outbox_enqueue
from daylock.events.models import Event, Progress, Tier, unlock_instant
from daylock.events.services import Outcome, answer_submit, completion_refresh
from daylock.prizes import services as prizes
from daylock.prizes.models import Draw, DrawStatus
from daylock.staging import services as testtools
from daylock.staging.services import Actor
from tests.config_override import config_override, production
from tests.events.factories import EventFactory, UserFactory, answer_for, complete

pytestmark = pytest.mark.django_db

CHANNEL = "710000000000000091"


def _future_event(*, day_count: int = 7, **kwargs: object) -> Event:
    """A published event with an announcement channel whose day 1 opens in 10 days."""
    starts = (timezone.now() + timedelta(days=10)).date()
    fields: dict[str, object] = {"announce_channel_id": CHANNEL} | kwargs
    event: Event = EventFactory(day_count=day_count, starts_on=starts, **fields)
    return event


def _posts(event: Event) -> list[str]:
    """The event's scheduled posts' keys, in the order they were written."""
    prefix = f"event:{event.pk}:"
    return list(
        OutboxMessage.objects.filter(dedup_key__startswith=prefix, kind="channel_message")
        .order_by("id")
        .values_list("dedup_key", flat=True)
    )


def _expected(event: Event) -> list[str]:
    days = [lifecycle.day_open_key(event_id=event.pk, number=n) for n in range(1, 8)]
    return [*days[:6], lifecycle.reminder_key(event_id=event.pk), days[6]]


def _clock_to(instant: datetime) -> None:
    testtools.clock_set(actor=Actor.cli(), to=instant)


def test_moving_the_clock_across_a_seven_day_event_posts_each_day_once_and_one_reminder() -> None:
    event = _future_event()
    _clock_to(unlock_instant(event, 1) - timedelta(hours=2))
    assert _posts(event) == []
    for number in range(1, 8):
        # An hour before the unlock: not yet (the reminder is 24 h before day 7).
        _clock_to(unlock_instant(event, number) - timedelta(hours=1))
        assert lifecycle.day_open_key(event_id=event.pk, number=number) not in _posts(event)
        _clock_to(unlock_instant(event, number) + timedelta(minutes=1))
        assert lifecycle.day_open_key(event_id=event.pk, number=number) in _posts(event)
        assert len(_posts(event)) == number + (number >= 6)  # the reminder with day 6
    _clock_to(unlock_instant(event, 7) + timedelta(days=2))
    assert _posts(event) == _expected(event)
    rows = OutboxMessage.objects.filter(dedup_key__startswith=f"event:{event.pk}:")
    assert {row.channel_id for row in rows} == {CHANNEL}
    assert {row.environment for row in rows} == {"staging"}
    day3 = rows.get(dedup_key=lifecycle.day_open_key(event_id=event.pk, number=3))
    assert "Day 3 is open" in day3.content
    [card] = day3.embeds
    assert card["title"] == "Day 3: Day 3 title"
    assert card["url"] == f"http://testserver/events/{event.slug}/day/3/"
    assert card["timestamp"] == unlock_instant(event, 3).isoformat()
    assert day3.allowed_mentions["users"] == []  # a day opening pings nobody
    reminder = rows.get(dedup_key=lifecycle.reminder_key(event_id=event.pk))
    assert "last day (Day 7)" in reminder.content
    unix = int(unlock_instant(event, 7).timestamp())
    assert f"<t:{unix}:R>" in reminder.content
    assert f"<t:{unix}:F>" in reminder.embeds[0]["description"]


def test_one_jump_across_the_event_posts_everything_once_in_order() -> None:
    event = _future_event()
    _clock_to(unlock_instant(event, 7) + timedelta(hours=3))
    assert _posts(event) == _expected(event)


def test_the_reminder_follows_the_configured_hours() -> None:
    event = _future_event()
    with config_override(last_day_reminder_hours=48):
        _clock_to(unlock_instant(event, 7) - timedelta(hours=47))
    assert _posts(event)[-1] == lifecycle.reminder_key(event_id=event.pk)
    assert _posts(event)[-2] == lifecycle.day_open_key(event_id=event.pk, number=5)


def test_ticking_again_or_moving_the_clock_back_adds_nothing() -> None:
    event = _future_event()
    _clock_to(unlock_instant(event, 4) + timedelta(minutes=5))
    first = _posts(event)
    assert len(first) == 4
    assert lifecycle.lifecycle_tick() == 0
    assert lifecycle.lifecycle_tick() == 0
    _clock_to(unlock_instant(event, 1) - timedelta(days=3))  # back before the event
    testtools.clock_reset(actor=Actor.cli())  # back to wall time
    _clock_to(unlock_instant(event, 4) + timedelta(hours=1))  # and forward again
    assert _posts(event) == first


def test_a_second_row_with_the_same_key_is_refused_by_the_database() -> None:
    key = "event:999:day-open:1"
    outbox_enqueue(kind="channel_message", channel_id=CHANNEL, content="a", dedup_key=key)
    with pytest.raises(IntegrityError), transaction.atomic():
        outbox_enqueue(kind="channel_message", channel_id=CHANNEL, content="b", dedup_key=key)
    assert (
        lifecycle.enqueue_once(
            dedup_key=key, kind="channel_message", channel_id=CHANNEL, content="c"
        )
        is None
    )
    assert OutboxMessage.objects.filter(dedup_key=key).count() == 1
    # Rows that may repeat have no key, and any number of them is fine.
    for _ in range(2):
        outbox_enqueue(kind="channel_message", channel_id=CHANNEL, content="d")
    assert OutboxMessage.objects.filter(content="d", dedup_key=None).count() == 2


def test_unpublished_events_events_without_a_channel_and_long_past_events_post_nothing() -> None:
    hidden = _future_event(published=False)
    silent = _future_event(announce_channel_id=None)
    old: Event = EventFactory(day_count=3, announce_channel_id=CHANNEL)  # started in 2024
    _clock_to(unlock_instant(hidden, 7) + timedelta(hours=1))
    assert _posts(hidden) == [] and _posts(silent) == [] and _posts(old) == []


def test_the_minute_tick_follows_the_moved_clock_without_the_testtool() -> None:
    """The worker's periodic task reads ``clock.now()``: an override written by any
    process (here directly, as another web process would) is what it follows."""
    from daylock.core.models import ClockOverride
    from daylock.discord.tasks import lifecycle_tick

    event = _future_event()
    ClockOverride.objects.create(
        scope=clock.ENVIRONMENT_SCOPE,
        offset=unlock_instant(event, 2) + timedelta(minutes=1) - timezone.now(),
    )
    clock.overrides_changed()
    assert lifecycle_tick(int(timezone.now().timestamp())) == 2
    assert lifecycle_tick(int(timezone.now().timestamp())) == 0
    assert len(_posts(event)) == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_ticking_at_once_write_each_post_once() -> None:
    event = _future_event()
    now = unlock_instant(event, 7) + timedelta(minutes=1)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(lifecycle.lifecycle_tick(now=now))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(results) == 8
    assert _posts(event) == _expected(event)
    # A restarted worker ticks again: nothing new.
    assert lifecycle.lifecycle_tick(now=now) == 0


def test_production_posts_on_wall_time_and_ignores_a_stored_clock_override() -> None:
    from daylock.core.models import ClockOverride

    starts = (timezone.now() - timedelta(days=1)).date()
    event: Event = EventFactory(day_count=7, starts_on=starts, announce_channel_id=CHANNEL)
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=30))
    clock.overrides_changed()
    with production():
        assert lifecycle.lifecycle_tick() == 2  # day 1 (yesterday) and day 2 (today)
    rows = OutboxMessage.objects.filter(dedup_key__startswith=f"event:{event.pk}:")
    assert sorted(rows.values_list("dedup_key", flat=True)) == [
        lifecycle.day_open_key(event_id=event.pk, number=1),
        lifecycle.day_open_key(event_id=event.pk, number=2),
    ]
    assert {row.environment for row in rows} == {"production"}


def test_posts_are_channel_messages_of_no_new_kind() -> None:
    assert len(OutboxKind.values) == 4  # no new kind: posts are channel messages


# --- completion roles --------------------------------------------------------------------

NORMAL_ROLE = "730000000000000091"
VETERAN_ROLE = "730000000000000092"


def _role_rows(user: User) -> list[tuple[str, str, str]]:
    """(kind, role, dedup key) of the user's completion-role changes, oldest first."""
    return [
        (row.kind, row.role_id, row.dedup_key or "")
        for row in OutboxMessage.objects.filter(
            recipient_id=user.discord.discord_id, source__contains=":completion-role:"
        ).order_by("id")
    ]


def _role_event(**kwargs: object) -> Event:
    fields: dict[str, object] = {
        "day_count": 3,
        "completion_role_normal_id": NORMAL_ROLE,
        "completion_role_veteran_id": VETERAN_ROLE,
    } | kwargs
    event: Event = EventFactory(**fields)
    return event


def test_mark_veteran_completed_grants_the_veteran_role_once_and_removing_it_revokes_once() -> None:
    event = _role_event()
    user = UserFactory()
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
    source = lifecycle.completion_role_source(event_id=event.pk, tier=Tier.VETERAN, user_id=user.pk)
    assert _role_rows(user) == [(OutboxKind.ROLE_GRANT, VETERAN_ROLE, f"{source}:1")]
    grant = OutboxMessage.objects.get(dedup_key=f"{source}:1")
    assert "Veteran completion" in grant.audit_reason
    assert delivery.deliver(grant.pk).outcome == delivery.Outcome.CAPTURED  # staging: kept
    # Marking again, or refreshing, is no new transition.
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
    completion_refresh(event=event, user_ids=[user.pk])
    assert len(_role_rows(user)) == 1

    # An admin removes a solve (a mistake corrected): the completion goes, the role too.
    Progress.objects.filter(user=user, day__event=event, day__number=2).delete()
    completion_refresh(event=event, user_ids=[user.pk])
    completion_refresh(event=event)  # the whole event again: still one revoke
    assert _role_rows(user) == [
        (OutboxKind.ROLE_GRANT, VETERAN_ROLE, f"{source}:1"),
        (OutboxKind.ROLE_REMOVE, VETERAN_ROLE, f"{source}:2"),
    ]
    revoke = OutboxMessage.objects.get(dedup_key=f"{source}:2")
    assert "removed" in revoke.audit_reason
    assert delivery.deliver(revoke.pk).outcome == delivery.Outcome.CAPTURED

    # Completed again later: a new grant, the third transition.
    testtools.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
    assert [row[0] for row in _role_rows(user)] == [
        OutboxKind.ROLE_GRANT,
        OutboxKind.ROLE_REMOVE,
        OutboxKind.ROLE_GRANT,
    ]


def test_answering_the_last_day_grants_the_tier_role() -> None:
    event = _role_event()
    user = UserFactory()
    for day in event.days.order_by("number"):
        assert _role_rows(user) == []
        result = answer_submit(
            user=user, day=day, tier=Tier.NORMAL, answer=answer_for(Tier.NORMAL, day.number)
        )
        assert result.outcome == Outcome.CORRECT
    assert [(kind, role) for kind, role, _ in _role_rows(user)] == [
        (OutboxKind.ROLE_GRANT, NORMAL_ROLE)
    ]


def test_no_role_without_a_role_on_the_event_or_a_discord_account() -> None:
    plain: Event = EventFactory(day_count=2)
    user = UserFactory()
    complete(user, plain, Tier.VETERAN)
    nobody = UserFactory(discord=None)
    event = _role_event(completion_role_normal_id=None)
    complete(nobody, event, Tier.VETERAN)
    complete(user, event, Tier.NORMAL)  # this event names no normal role
    assert _role_rows(user) == []
    assert not OutboxMessage.objects.filter(source__contains=":completion-role:").exists()


def test_two_syncs_racing_write_one_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loser of a race passed the existence check before the winner committed: the
    unique key refuses its insert, its savepoint rolls back (row and delivery job) and
    its transaction goes on."""
    event = _role_event()
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    [(_, _, key)] = _role_rows(user)
    OutboxMessage.objects.filter(dedup_key=key).update(source="moved-away")  # looks ungranted
    checks: list[str] = []

    def racing(dedup_key: str) -> bool:  # the first check runs before the winner commits
        checks.append(dedup_key)
        return len(checks) > 1 and OutboxMessage.objects.filter(dedup_key=dedup_key).exists()

    monkeypatch.setattr(lifecycle, "_key_taken", racing)
    rows = OutboxMessage.objects.count()
    with transaction.atomic():
        assert lifecycle.completion_roles_sync(event=event, user_ids=[user.pk]) == 0
        assert checks == [key, key]  # refused by the database, then seen
        assert Event.objects.filter(pk=event.pk).exists()  # the transaction still works
    assert OutboxMessage.objects.count() == rows


# --- the draw's posts and the published commitment ---------------------------------------


def _drawn_prize(*, prize_channel: str) -> tuple[Event, Draw]:
    from tests.prizes.conftest import make_entrants, make_prize, member_sync_done

    event: Event = EventFactory(day_count=2, announce_channel_id=CHANNEL)
    prize = make_prize(event, announce_channel_id=prize_channel)
    make_entrants(event, 3)
    member_sync_done()
    draw = Draw.objects.get(prize=prize)
    assert not OutboxMessage.objects.filter(dedup_key__startswith=f"event:{event.pk}:").exists()
    prizes.draw_close_entries(prize=prize, actor=None)
    prizes.draw_run(prize=prize, actor=None, confirm=False)
    draw.refresh_from_db()
    return event, draw


def test_entries_closed_and_results_posts_carry_the_commitment_and_the_draw_page(
    client: Client,
) -> None:
    event, draw = _drawn_prize(prize_channel="710000000000000092")
    url = prizes.draw_page_url(draw)
    closed = OutboxMessage.objects.get(
        dedup_key=lifecycle.entries_closed_key(event_id=event.pk, draw_id=draw.pk)
    )
    assert closed.channel_id == CHANNEL
    [card] = closed.embeds
    fields = {field["name"]: field["value"] for field in card["fields"]}
    assert fields["Seed hash (SHA-256)"] == f"`{draw.seed_hash}`"
    assert fields["Entrants hash (SHA-256)"] == f"`{draw.entrants_hash}`"
    assert fields["Entrants"] == "3" and "3 entrants" in closed.content
    assert card["url"] == url
    assert closed.content.startswith("[SIMULATED] ")  # staging's draws are simulated
    assert card["title"].startswith("[SIMULATED] ")
    results = OutboxMessage.objects.get(
        dedup_key=lifecycle.results_key(event_id=event.pk, draw_id=draw.pk)
    )
    assert results.channel_id == CHANNEL and results.embeds[0]["url"] == url
    assert "2 winners" in results.content
    # Where the winners are named: the prize's own channel, mentioned (not pinged).
    assert "<#710000000000000092>" in results.embeds[0]["description"]
    assert results.allowed_mentions["users"] == []
    assert closed.pk < results.pk
    # The linked page is the draw's public page, and it shows what the post committed to.
    page = client.get(url.removeprefix(config.current().public_url))
    assert page.status_code == 200
    assert draw.seed_hash in page.text and draw.entrants_hash in page.text


def test_no_second_results_post_where_the_prize_already_announces_its_winners() -> None:
    event, draw = _drawn_prize(prize_channel=CHANNEL)
    in_channel = OutboxMessage.objects.filter(channel_id=CHANNEL, kind="channel_message")
    assert not in_channel.filter(
        dedup_key=lifecycle.results_key(event_id=event.pk, draw_id=draw.pk)
    ).exists()
    assert in_channel.filter(source=f"draw:{draw.pk}").count() == 1  # the prize's own post
    assert (
        in_channel.filter(
            dedup_key=lifecycle.entries_closed_key(event_id=event.pk, draw_id=draw.pk)
        ).count()
        == 1
    )


def test_the_seed_hash_is_on_the_prize_public_page_from_its_creation(client: Client) -> None:
    from tests.prizes.conftest import make_prize

    event: Event = EventFactory(day_count=2)
    draw = Draw.objects.get(prize=make_prize(event))
    assert draw.status == DrawStatus.OPEN and len(draw.seed_hash) == 64
    page = client.get(f"/prizes/draws/{draw.pk}/")
    assert page.status_code == 200
    assert f'<code data-field="seed_hash">{draw.seed_hash}</code>' in page.text
    assert draw.seed not in page.text  # the seed itself stays secret until the run
