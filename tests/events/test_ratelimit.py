from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from daylock.events import ratelimit
from daylock.events.models import Progress, WrongAnswer

from .factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_eleventh_attempt_in_ten_minutes_is_refused_with_429(client: Client) -> None:
    EventFactory(slug="rl")
    user = UserFactory()
    client.force_login(user)
    url = "/events/rl/day/1/answer/normal/"
    for attempt in range(ratelimit.MAX_ATTEMPTS):
        response = client.post(url, {"answer": f"wrong {attempt}"})
        assert response.status_code == 200, attempt  # the day page again, with the answer
    assert WrongAnswer.objects.count() == 10
    response = client.post(url, {"answer": "wrong again"})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many attempts" in body
    assert "try again in 10 minutes" in body
    assert 'value="wrong again"' in body  # still in the field, to send once the wait is over
    assert WrongAnswer.objects.count() == 10  # refused attempts are not stored
    # Even the right answer is not checked while refused (no brute forcing).
    assert client.post(url, {"answer": "normal-1"}).status_code == 429
    assert not Progress.objects.exists()
    # Other tiers, days and users have their own counters.
    assert (
        client.post("/events/rl/day/1/answer/veteran/", {"answer": "veteran-1"}).status_code == 302
    )
    assert client.post("/events/rl/day/2/answer/normal/", {"answer": "normal-2"}).status_code == 302
    client.force_login(UserFactory())
    assert client.post(url, {"answer": "normal-1"}).status_code == 302
    assert Progress.objects.count() == 3


def test_retry_after_counts_from_the_first_attempt() -> None:
    start = 1_000_000.0
    for _ in range(10):
        assert ratelimit.attempt(user_id=1, day_id=2, tier="normal", now=start).allowed
    refused = ratelimit.attempt(user_id=1, day_id=2, tier="normal", now=start + 419)
    assert not refused.allowed
    assert refused.retry_after_seconds == 181
    assert refused.retry_after_minutes == 4
    ratelimit.reset(user_id=1, day_id=2, tier="normal")
    assert ratelimit.attempt(user_id=1, day_id=2, tier="normal", now=start + 601).allowed


def test_counter_is_atomic_under_concurrency() -> None:
    barrier = threading.Barrier(8)
    allowed: list[bool] = []

    def hammer() -> None:
        try:
            barrier.wait(5)
            for _ in range(5):
                allowed.append(ratelimit.attempt(user_id=7, day_id=7, tier="veteran").allowed)
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(allowed) == 40
    assert allowed.count(True) == ratelimit.MAX_ATTEMPTS
