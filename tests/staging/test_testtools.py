"""The admin-only test utilities: services, the command and the staff pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import Role, User
from daylock.core.models import AuditLog, ClockOverride
from daylock.events.models import DayUnlock, EligibilityOverride, Event, Progress, Tier
from daylock.events.selectors import completion_tier, eligible_user_ids
from daylock.events.timelock import is_open, unlock_instant
from daylock.staging import services
from daylock.staging.services import Actor, TestToolError
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def upcoming() -> Event:
    """A 3-day event that starts in ten days: every day locked now."""
    return EventFactory(slug="upcoming", starts_on=timezone.now().date() + timedelta(days=10))


def cli(*args: str) -> None:
    call_command("testtools", *args)


# --- clock --------------------------------------------------------------------------------


def test_moving_the_clock_opens_a_day(upcoming: Event) -> None:
    day1 = upcoming.days.get(number=1)
    assert not is_open(day1, user_id=None)
    target = unlock_instant(upcoming, 1) + timedelta(minutes=1)
    services.clock_set(actor=Actor.cli(), to=target)
    now = clock.now()
    assert abs(now - target) < timedelta(seconds=5)
    assert is_open(day1, user_id=None)
    assert not is_open(upcoming.days.get(number=2), user_id=None)
    services.clock_reset(actor=Actor.cli())
    assert abs(clock.now() - timezone.now()) < timedelta(seconds=1)
    assert not is_open(day1, user_id=None)
    actions = list(AuditLog.objects.order_by("id").values_list("action", "actor_label"))
    assert actions == [("testtools.clock_set", "cli"), ("testtools.clock_reset", "cli")]


def test_forward_moves_from_the_current_clock_and_per_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = UserFactory()
    cli("clock", "set", "--forward", "1d")
    cli("clock", "set", "--forward", "1d2h")
    env_offset = ClockOverride.objects.get(scope="environment").offset
    assert abs(env_offset - timedelta(days=2, hours=2)) < timedelta(seconds=5)
    cli("clock", "set", "--to", "2030-01-01T00:00:00Z", "--user", user.username)
    assert abs(clock.now(user_id=user.pk) - datetime(2030, 1, 1, tzinfo=UTC)) < timedelta(seconds=5)
    # Other users keep the environment's clock.
    assert abs(clock.now(user_id=user.pk + 999) - (timezone.now() + env_offset)) < timedelta(
        seconds=5
    )
    out = capsys.readouterr().out
    assert "clock of the environment moved to" in out
    assert f"clock of user {user.username} moved to 2030-01-01T00:00" in out
    cli("clock", "show")
    assert f"user:{user.pk}: +" in capsys.readouterr().out
    cli("clock", "reset", "--user", user.username)
    assert not ClockOverride.objects.filter(user=user).exists()
    assert ClockOverride.objects.filter(scope="environment").exists()
    assert AuditLog.objects.filter(action__startswith="testtools.clock").count() == 4


def test_bad_clock_input_exits_1_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("clock", "set", "--forward", "soon")
    assert exit_info.value.code == 1
    assert "daylock: testtools: 'soon' is not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli("clock", "set", "--to", "2030-01-01", "--user", "nobody")
    assert exit_info.value.code == 1
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert not ClockOverride.objects.exists()
    assert not AuditLog.objects.exists()


# --- unlock, complete, eligibility --------------------------------------------------------


def test_unlock_day_for_everyone_and_for_one_user(upcoming: Event) -> None:
    alice, bob = UserFactory(), UserFactory()
    day2 = upcoming.days.get(number=2)
    cli("unlock-day", "--event", "upcoming", "--day", "2", "--user", alice.username)
    assert is_open(day2, user_id=alice.pk)
    assert not is_open(day2, user_id=bob.pk)
    cli("unlock-day", "--event", "upcoming", "--day", "2")
    cli("unlock-day", "--event", "upcoming", "--day", "2")  # idempotent
    assert is_open(day2, user_id=bob.pk)
    assert DayUnlock.objects.filter(day=day2).count() == 2
    rows = AuditLog.objects.filter(action="testtools.unlock_day").order_by("id")
    assert [r.details["already_unlocked"] for r in rows] == [False, False, True]
    with pytest.raises(TestToolError, match="has days 1-3; there is no day 4"):
        services.day_unlock(actor=Actor.cli(), event=upcoming, number=4)


def test_mark_veteran_complete_makes_eligible_for_a_veteran_prize() -> None:
    event = EventFactory(slug="done", starts_on=date(2024, 1, 1))
    user = UserFactory()
    assert (
        list(eligible_user_ids(event=event, min_tier=Tier.VETERAN, feedback_required=False)) == []
    )
    cli("complete", "--user", user.username, "--event", "done", "--tier", "veteran")
    assert completion_tier(user=user, event=event) == Tier.VETERAN
    assert list(eligible_user_ids(event=event, min_tier=Tier.VETERAN, feedback_required=False)) == [
        user.pk
    ]
    assert list(eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)) == [
        user.pk
    ]
    # Only the requested tier is written (tiers are independent challenges).
    assert not Progress.objects.filter(user=user, tier=Tier.NORMAL).exists()
    assert (
        services.user_mark_completed(actor=Actor.cli(), user=user, event=event, tier=Tier.VETERAN)
        == 0
    )
    row = AuditLog.objects.filter(action="testtools.complete").first()
    assert row is not None and row.details["new_rows"] == 0  # the latest: nothing new


def test_eligibility_override_forces_in_and_out_and_clears() -> None:
    event = EventFactory(slug="elig")
    user = UserFactory()
    cli("eligibility", "--user", user.username, "--event", "elig", "--eligible", "--reason", "QA")
    assert list(eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=True)) == [
        user.pk
    ]
    cli("eligibility", "--user", user.username, "--event", "elig", "--ineligible", "--reason", "x")
    assert EligibilityOverride.objects.get(user=user).eligible is False
    cli("eligibility", "--user", user.username, "--event", "elig", "--clear")
    assert not EligibilityOverride.objects.exists()
    assert AuditLog.objects.filter(action__startswith="testtools.eligibility").count() == 3


def test_eligibility_needs_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    EventFactory(slug="elig")
    user = UserFactory()
    with pytest.raises(SystemExit) as exit_info:
        cli("eligibility", "--user", user.username, "--event", "elig", "--eligible")
    assert exit_info.value.code == 1
    assert "give a reason" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli("eligibility", "--user", user.username, "--event", "nope", "--clear")
    assert "no event 'nope' (known: elig)" in capsys.readouterr().err


# --- staff pages -------------------------------------------------------------------------------

PAGES = ["/staff/testtools/", "/staff/testtools/audit/"]
POSTS = ["unlock-day/", "complete/", "clock/", "eligibility/"]


def test_pages_are_forbidden_to_players_and_ask_anonymous_to_log_in(player: User) -> None:
    client = Client()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/auth/login/")
    client.force_login(player)
    for url in PAGES:
        assert client.get(url).status_code == 403
    for path in POSTS:
        assert client.post("/staff/testtools/" + path, {}).status_code == 403
    assert not AuditLog.objects.exists()


def test_staff_use_every_tool_from_the_page(staff: User, upcoming: Event) -> None:
    target = UserFactory()
    client = Client()
    client.force_login(staff)
    page = client.get("/staff/testtools/")
    assert page.status_code == 200
    body = page.content.decode()
    for heading in (
        "Clock",
        "Unlock an event day",
        "Mark a user completed",
        "Simulate eligibility",
    ):
        assert heading in body

    at = unlock_instant(upcoming, 1) + timedelta(hours=1)
    r = client.post(
        "/staff/testtools/clock/",
        {"clock-action": "set", "clock-to": at.isoformat(), "clock-forward": "", "clock-user": ""},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert is_open(upcoming.days.get(number=1), user_id=None)
    page = client.get("/staff/testtools/").content.decode()
    assert "Clock moved to" in page  # the banner, from clock.active_override
    assert f"Clock of the environment moved to {at:%Y-%m-%d %H}" in page
    r = client.post(
        "/staff/testtools/clock/",
        {"clock-action": "forward", "clock-to": "", "clock-forward": "1d", "clock-user": ""},
    )
    assert r.status_code == 302, r.content.decode()[-3000:]
    page = client.get("/staff/testtools/").content.decode()
    assert f"Clock of the environment moved to {at + timedelta(days=1):%Y-%m-%d %H}" in page

    r = client.post(
        "/staff/testtools/unlock-day/",
        {"unlock-event": "upcoming", "unlock-day": "3", "unlock-user": target.username},
    )
    assert r.status_code == 302
    assert is_open(upcoming.days.get(number=3), user_id=target.pk)
    r = client.post(
        "/staff/testtools/complete/",
        {"complete-user": target.username, "complete-event": "upcoming", "complete-tier": "normal"},
    )
    assert r.status_code == 302
    assert completion_tier(user=target, event=upcoming) == Tier.NORMAL
    r = client.post(
        "/staff/testtools/eligibility/",
        {"eligibility-user": target.username, "eligibility-event": "upcoming",
         "eligibility-verdict": "ineligible", "eligibility-reason": "testing refusal"},
    )  # fmt: skip
    assert r.status_code == 302
    assert (
        list(eligible_user_ids(event=upcoming, min_tier=Tier.NORMAL, feedback_required=False)) == []
    )
    r = client.post("/staff/testtools/clock/", {"clock-action": "reset"})
    assert r.status_code == 302

    rows = list(AuditLog.objects.order_by("id"))
    assert [r.action for r in rows] == [
        "testtools.clock_set",
        "testtools.clock_set",
        "testtools.unlock_day",
        "testtools.complete",
        "testtools.eligibility_set",
        "testtools.clock_reset",
    ]
    assert all(r.actor == staff and r.actor_label == staff.username for r in rows)
    assert all(r.environment == "staging" for r in rows)
    audit = client.get("/staff/testtools/audit/?testtools=1").content.decode()
    assert audit.count('data-action="testtools.') == 6


def test_bad_form_input_is_a_400_with_the_reason_and_no_write(staff: User, upcoming: Event) -> None:
    client = Client()
    client.force_login(staff)
    r = client.post(
        "/staff/testtools/clock/", {"clock-action": "forward", "clock-forward": "later"}
    )
    assert r.status_code == 400
    assert "is not a duration" in r.content.decode()
    r = client.post("/staff/testtools/unlock-day/", {"unlock-event": "upcoming", "unlock-day": "9"})
    assert r.status_code == 400
    assert "there is no day 9" in r.content.decode()
    r = client.post(
        "/staff/testtools/complete/",
        {"complete-user": "ghost", "complete-event": "upcoming", "complete-tier": "normal"},
    )
    assert r.status_code == 400
    assert "no user named" in r.content.decode()
    assert not AuditLog.objects.exists()
    assert not ClockOverride.objects.exists()


def test_moderators_and_a_bare_django_staff_flag_are_refused(upcoming: Event) -> None:
    """Admin-only: a moderator, or a player with Django's is_staff, gets a 403 that
    names the role to ask for; a superuser (operator) may."""
    client = Client()
    for user in (
        User.objects.create_user("mod", role=Role.MODERATOR),
        User.objects.create_user("ops", is_staff=True),
    ):
        client.force_login(user)
        refused = client.get("/staff/testtools/")
        assert refused.status_code == 403
        assert "you need the admin role" in refused.content.decode()
    client.force_login(User.objects.create_superuser("root", password="x"))
    assert client.get("/staff/testtools/").status_code == 200
