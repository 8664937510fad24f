from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import User
from daylock.core.models import ClockOverride
from daylock.testing import pytest_plugin
from tests.config_override import production
from tests.conftest import Databases, run_daylock

pytestmark = pytest.mark.django_db


def test_without_override_now_is_wall_time() -> None:
    before = timezone.now()
    assert before <= clock.now() <= timezone.now()
    assert clock.active_override() is None


def test_environment_override_moves_everyone_and_keeps_time_flowing() -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=2))
    first = clock.now()
    assert first - timezone.now() > timedelta(days=1, hours=23)
    assert clock.now() >= first
    active = clock.active_override()
    assert active is not None and active.scope == "environment"


def test_user_override_wins_over_environment_for_that_user_only() -> None:
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=1))
    ClockOverride.objects.create(
        scope=clock.user_scope(alice.pk), user=alice, offset=timedelta(days=5)
    )
    wall = timezone.now()
    assert clock.now(user_id=alice.pk) - wall > timedelta(days=4, hours=23)
    assert timedelta(hours=23) < clock.now(user_id=bob.pk) - wall < timedelta(days=1, hours=1)
    assert clock.active_override(user_id=alice.pk).scope == f"user:{alice.pk}"  # type: ignore[union-attr]


def test_production_ignores_override_rows_entirely(django_assert_num_queries: object) -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=30))
    with production():
        with django_assert_num_queries(0):  # type: ignore[operator]
            moved = clock.now(user_id=1)
            assert clock.active_override() is None
        assert abs(moved - timezone.now()) < timedelta(seconds=5)


def test_request_scope_reads_the_override_table_once(django_assert_num_queries: object) -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(hours=3))
    with clock.request_scope(), django_assert_num_queries(1):  # type: ignore[operator]
        for _ in range(5):
            clock.now()


def test_banner_shows_a_moved_clock(client: object) -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=1))
    body = client.get("/").content.decode()  # type: ignore[attr-defined]
    assert "Clock moved to" in body


def test_production_reads_no_override_even_for_the_banner_or_after_a_write() -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=30))
    with production(), clock.request_scope(), CaptureQueriesContext(connection) as captured:
        assert abs(clock.now(user_id=7) - timezone.now()) < timedelta(seconds=5)
        assert clock.active_override(user_id=7) is None
        clock.overrides_changed()
    assert captured.captured_queries == []


def test_active_override_reuses_what_now_read_in_the_request() -> None:
    alice = User.objects.create(username="alice")
    ClockOverride.objects.create(
        scope=clock.user_scope(alice.pk), user=alice, offset=timedelta(days=2)
    )
    with clock.request_scope(), CaptureQueriesContext(connection) as captured:
        clock.now(user_id=alice.pk)
        active = clock.active_override(user_id=alice.pk)
        assert clock.active_override() is None  # the environment's clock is not moved
    assert active is not None and active.scope == clock.user_scope(alice.pk)
    assert len(captured.captured_queries) == 1


def test_a_write_in_a_request_is_seen_by_the_rest_of_it() -> None:
    with clock.request_scope():
        assert clock.now() - timezone.now() < timedelta(seconds=5)
        moved = ClockOverride.objects.create(
            scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=4)
        )
        assert clock.now() - timezone.now() > timedelta(days=3, hours=23)
        moved.delete()
        assert clock.now() - timezone.now() < timedelta(seconds=5)


SHOW = (
    "from django.utils import timezone; from daylock import clock; "
    "print(round((clock.now() - timezone.now()).total_seconds() / 86400))"
)


def test_a_clock_moved_by_a_command_is_seen_by_the_next_process(
    databases: Databases, redis_dbs: Callable[[int], str]
) -> None:
    env = pytest_plugin.staging_environ() | {
        "DATABASE_URL": databases.create("clock"),
        "REDIS_URL": redis_dbs(1),
    }
    assert run_daylock("migrate", "--no-input", env=env, timeout=120).returncode == 0

    def days_ahead() -> int:
        shown = run_daylock("shell", "-c", SHOW, env=env)
        assert shown.returncode == 0, shown.stderr
        return int(shown.stdout.strip().splitlines()[-1])

    assert days_ahead() == 0
    moved = run_daylock("testtools", "clock", "set", "--forward", "800d", env=env)
    assert moved.returncode == 0, moved.stderr
    assert days_ahead() == 800
    back = run_daylock("testtools", "clock", "reset", env=env)
    assert back.returncode == 0, back.stderr
    assert days_ahead() == 0
