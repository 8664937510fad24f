"""Production in-process: no test-tool URL exists, no command or service writes, and
clock overrides are ignored even when rows exist. (The real production processes are
exercised in test_commands.)"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import clear_url_caches
from django.utils import timezone

import daylock.urls
from daylock import clock
from daylock.accounts.models import Role
from daylock.config import Refusal
from daylock.core.models import AuditLog, ClockOverride
from daylock.events.models import DayUnlock, Tier
from daylock.events.timelock import is_open
from daylock.staging import guards, services
from daylock.staging.reset import make_plan
from daylock.staging.seed import SeedOptions
from daylock.staging.services import Actor
from daylock.stamps import STAMP_TABLE
from tests.config_override import production
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db

TESTTOOL_PATHS = [
    "/staff/testtools/",
    "/staff/testtools/audit/",
    "/staff/testtools/unlock-day/",
    "/staff/testtools/complete/",
    "/staff/testtools/clock/",
    "/staff/testtools/eligibility/",
    "/staff/testtools/anything/else/",
]


@pytest.fixture
def production_urlconf() -> Iterator[None]:
    """``daylock.urls`` as a production process builds it (and rebuilt after)."""
    with production():
        clear_url_caches()
        importlib.reload(daylock.urls)
        try:
            yield
        finally:
            clear_url_caches()
    importlib.reload(daylock.urls)
    clear_url_caches()


def test_every_testtools_path_is_404_in_production(production_urlconf: None) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    for path in TESTTOOL_PATHS:
        assert client.get(path).status_code == 404, path
        assert (
            client.post(path, {"clock-action": "set", "clock-to": "2030-01-01"}).status_code == 404
        )
    assert client.get("/healthz").status_code in {200, 503}  # the URLconf itself works
    assert not ClockOverride.objects.exists()


def test_the_same_paths_exist_in_staging() -> None:
    client = Client()
    client.force_login(UserFactory(role=Role.ADMIN))
    assert client.get("/staff/testtools/").status_code == 200
    assert client.get("/staff/testtools/anything/else/").status_code == 404


def test_clock_overrides_are_ignored_in_production_even_when_rows_exist() -> None:
    user = UserFactory()
    ClockOverride.objects.create(scope="environment", offset=timedelta(days=365))
    ClockOverride.objects.create(
        scope=clock.user_scope(user.pk), user=user, offset=timedelta(days=9)
    )
    assert clock.now() - timezone.now() > timedelta(days=364)  # staging honours it
    with production():
        assert abs(clock.now() - timezone.now()) < timedelta(seconds=1)
        assert abs(clock.now(user_id=user.pk) - timezone.now()) < timedelta(seconds=1)
        assert clock.active_override(user_id=user.pk) is None


def test_day_unlock_rows_are_ignored_in_production() -> None:
    event = EventFactory(starts_on=timezone.now().date() + timedelta(days=30))
    day = event.days.get(number=1)
    DayUnlock.objects.create(day=day)
    assert is_open(day, user_id=None)
    with production():
        assert not is_open(day, user_id=None)


def test_services_refuse_in_production() -> None:
    event = EventFactory()
    user = UserFactory()
    actor = Actor.cli()
    calls = [
        lambda: services.day_unlock(actor=actor, event=event, number=1),
        lambda: services.user_mark_completed(
            actor=actor, user=user, event=event, tier=Tier.VETERAN
        ),
        lambda: services.clock_set(actor=actor, forward=timedelta(days=1)),
        lambda: services.clock_reset(actor=actor),
        lambda: services.eligibility_set(
            actor=actor, user=user, event=event, eligible=True, reason="x"
        ),
        lambda: services.eligibility_clear(actor=actor, user=user, event=event),
    ]
    with production():
        for call in calls:
            with pytest.raises(Refusal, match="the test utilities are disabled in production"):
                call()
    assert not AuditLog.objects.exists()
    assert not ClockOverride.objects.exists()
    assert not DayUnlock.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["seed"],
        ["reset", "--yes"],
        ["testtools", "clock", "set", "--forward", "1d"],
        ["testtools", "clock", "reset"],
        ["testtools", "unlock-day", "--event", "e", "--day", "1"],
        ["testtools", "complete", "--user", "u", "--event", "e", "--tier", "normal"],
        ["testtools", "eligibility", "--user", "u", "--event", "e", "--clear"],
    ],
)
def test_commands_refuse_in_production(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with production(), pytest.raises(SystemExit) as exit_info:
        call_command(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"daylock: refused: {args[0]}: "), err
    assert "disabled in production" in err


def _stamp(environment: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {STAMP_TABLE} SET environment = %s", [environment])  # noqa: S608


@pytest.mark.parametrize("stamped", ["production", "development", "somewhere"])
def test_destructive_guard_refuses_a_foreign_stamped_database_whatever_app_env_says(
    stamped: str,
) -> None:
    _stamp(stamped)  # rolled back with the test's transaction
    with pytest.raises(Refusal, match=f"is stamped {stamped}"):
        guards.require_destructive(command="reset", capability="seed_and_reset")
    with pytest.raises(Refusal, match=f"is stamped {stamped}"):
        make_plan(full=False, options=SeedOptions())
    with pytest.raises(Refusal, match=f"testtools: .* is stamped {stamped}"):
        services.clock_set(actor=Actor.cli(), forward=timedelta(hours=1))
    assert not ClockOverride.objects.exists()


def test_production_stamp_message_names_production() -> None:
    _stamp("production")
    with pytest.raises(Refusal) as info:
        guards.require_database(command="seed")
    assert "never seeded, reset or edited by test tools, whatever APP_ENV says" in str(info.value)
