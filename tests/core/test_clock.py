from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from daylock import clock
from daylock.accounts.models import User
from daylock.core.models import ClockOverride
from tests.config_override import production

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
