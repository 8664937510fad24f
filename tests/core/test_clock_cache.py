"""The clock's override cache: shared (Redis) only, invalidated by every ORM write,
never trusted inside a transaction, never touched in production, and correct across
processes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from daylock import clock
from daylock.core.models import ClockOverride
from daylock.testing import pytest_plugin
from tests.config_override import production
from tests.conftest import Databases, run_daylock

LOCMEM = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "KEY_PREFIX": "daylock:staging",
    }
}


def override_queries(action: Callable[[], Any]) -> int:
    """How many queries of the override table ``action`` ran."""
    with CaptureQueriesContext(connection) as captured:
        action()
    return sum("core_clockoverride" in q["sql"] for q in captured.captured_queries)


def offset_now(user_id: int | None = None) -> timedelta:
    return clock.now(user_id=user_id) - timezone.now()


def near(value: timedelta, expected: timedelta) -> bool:
    return abs(value - expected) < timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_a_cached_read_costs_no_query_and_a_write_is_seen_at_once() -> None:
    assert override_queries(clock.now) == 1  # first read fills the cache
    assert override_queries(clock.now) == 0
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=2))
    assert override_queries(lambda: near(offset_now(), timedelta(days=2))) == 1
    assert near(offset_now(), timedelta(days=2))
    ClockOverride.objects.filter(scope=clock.ENVIRONMENT_SCOPE).update(offset=timedelta(days=5))
    assert near(offset_now(), timedelta(days=2)), "update() sends no signal: still cached"
    clock.overrides_changed()
    assert near(offset_now(), timedelta(days=5))
    ClockOverride.objects.all().delete()
    assert near(offset_now(), timedelta(0))


@pytest.mark.django_db(transaction=True)
def test_user_overrides_are_cached_per_scope_and_invalidated_by_cascade() -> None:
    from daylock.accounts.models import User

    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=1))
    ClockOverride.objects.create(
        scope=clock.user_scope(alice.pk), user=alice, offset=timedelta(days=7)
    )
    assert near(offset_now(alice.pk), timedelta(days=7))
    assert near(offset_now(bob.pk), timedelta(days=1))
    assert override_queries(lambda: (offset_now(alice.pk), offset_now(bob.pk))) == 0
    alice.delete()  # cascades to her override: a post_delete signal too
    assert override_queries(lambda: offset_now(alice.pk)) == 1
    assert near(offset_now(alice.pk), timedelta(days=1))


@pytest.mark.django_db(transaction=True)
def test_a_write_is_invisible_to_others_until_commit_and_not_cached_when_rolled_back() -> None:
    clock.now()  # cached: no override
    with transaction.atomic():
        ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=3))
        # Inside the transaction: the database (its own write), never the cache.
        assert override_queries(lambda: near(offset_now(), timedelta(days=3))) == 1
        assert near(offset_now(), timedelta(days=3))
    assert near(offset_now(), timedelta(days=3))
    try:
        with transaction.atomic():
            ClockOverride.objects.filter(scope=clock.ENVIRONMENT_SCOPE).delete()
            assert near(offset_now(), timedelta(0))
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert near(offset_now(), timedelta(days=3)), "the rolled-back delete never happened"


@pytest.mark.django_db(transaction=True)
def test_an_entry_from_a_read_that_raced_a_write_is_never_used() -> None:
    """A reader read the generation, then the database before a write committed, and
    stored the old offset after the write's invalidation: its entry carries the old
    generation, so the next reader goes to the database."""
    clock.now()
    generation = cache.get("clock:overrides:generation")
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(hours=5))
    cache.set(f"clock:override:{clock.ENVIRONMENT_SCOPE}", (generation, None))  # the late write
    assert near(offset_now(), timedelta(hours=5))


@pytest.mark.django_db(transaction=True)
def test_a_wiped_cache_starts_a_new_generation() -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=1))
    clock.now()
    cache.clear()  # what `daylock reset` does to the environment's keys
    assert override_queries(lambda: near(offset_now(), timedelta(days=1))) == 1
    assert cache.get("clock:overrides:generation") is not None
    assert override_queries(clock.now) == 0


@pytest.mark.django_db(transaction=True)
def test_an_in_process_cache_is_never_used_for_overrides() -> None:
    """LocMemCache (development without Redis) is per process: a CLI command's clock
    move must be seen by the web server at once, so every read goes to the database."""
    with override_settings(CACHES=LOCMEM):
        assert override_queries(clock.now) == 1
        assert override_queries(clock.now) == 1
        ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=1))
        assert near(offset_now(), timedelta(days=1))


@pytest.mark.django_db(transaction=True)
def test_production_reads_neither_cache_nor_database() -> None:
    ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=30))
    cache.clear()
    with production():
        with CaptureQueriesContext(connection) as captured:
            assert near(offset_now(7), timedelta(0))
            assert clock.active_override(user_id=7) is None
            clock.overrides_changed()
        assert captured.captured_queries == []
    assert redis.Redis.from_url(str(settings.DAYLOCK.redis_url)).keys("*clock*") == []


@pytest.mark.django_db(transaction=True)
def test_active_override_reuses_the_request_memo() -> None:
    from daylock.accounts.models import User

    alice = User.objects.create(username="alice")
    ClockOverride.objects.create(
        scope=clock.user_scope(alice.pk), user=alice, offset=timedelta(days=2)
    )
    cache.clear()
    with clock.request_scope(), CaptureQueriesContext(connection) as captured:
        clock.now(user_id=alice.pk)
        active = clock.active_override(user_id=alice.pk)
        assert clock.active_override() is None  # the environment's clock is not moved
    assert active is not None and active.scope == clock.user_scope(alice.pk)
    assert len(captured.captured_queries) == 1


@pytest.mark.django_db
def test_a_write_in_a_request_clears_its_memo() -> None:
    with clock.request_scope():
        assert near(offset_now(), timedelta(0))
        ClockOverride.objects.create(scope=clock.ENVIRONMENT_SCOPE, offset=timedelta(days=4))
        assert near(offset_now(), timedelta(days=4))


SHOW = (
    "from django.utils import timezone; from daylock import clock; "
    "print(round((clock.now() - timezone.now()).total_seconds() / 86400))"
)


def test_processes_agree_through_the_shared_cache(
    databases: Databases, redis_dbs: Callable[[int], str]
) -> None:
    """A command moves the clock; a later process reading through the warm shared
    cache sees the move (the command's commit replaced the generation)."""
    env = pytest_plugin.staging_environ() | {
        "DATABASE_URL": databases.create("clockcache"),
        "REDIS_URL": redis_dbs(1),
    }
    assert run_daylock("migrate", "--no-input", env=env, timeout=120).returncode == 0

    def days_ahead() -> int:
        shown = run_daylock("shell", "-c", SHOW, env=env)
        assert shown.returncode == 0, shown.stderr
        return int(shown.stdout.strip().splitlines()[-1])

    assert days_ahead() == 0  # also fills the shared cache: "no override"
    moved = run_daylock("testtools", "clock", "set", "--forward", "800d", env=env)
    assert moved.returncode == 0, moved.stderr
    assert days_ahead() == 800
    back = run_daylock("testtools", "clock", "reset", env=env)
    assert back.returncode == 0, back.stderr
    assert days_ahead() == 0
