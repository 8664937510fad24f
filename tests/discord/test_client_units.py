"""Client pieces that need no server: the global limiter, route keys, mentions."""

from __future__ import annotations

import pytest

from daylock.discord.client import (
    GlobalRateLimiter,
    allowed_mentions_for,
    route_key,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds


def test_global_limiter_allows_at_most_the_limit_in_any_window() -> None:
    fake = FakeTime()
    limiter = GlobalRateLimiter(limit=50, window=1.0, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(175):
        limiter.acquire()
        stamps.append(fake.now)
        fake.now += 0.001  # each request takes a millisecond
    for i, start in enumerate(stamps):
        in_window = [t for t in stamps[i:] if t - start < 1.0]
        assert len(in_window) <= 50
    # ...and it does not wait more than needed: 175 requests need just over 3 windows.
    assert 3.0 <= stamps[-1] - stamps[0] < 3.5


def test_global_limiter_does_not_wait_below_the_limit() -> None:
    fake = FakeTime()
    limiter = GlobalRateLimiter(limit=50, window=1.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):
        limiter.acquire()
    assert fake.slept == []
    limiter.acquire()
    assert fake.slept == [pytest.approx(1.0)]


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/channels/123/messages", "POST /channels/123/messages"),
        ("POST", "/channels/456/messages", "POST /channels/456/messages"),
        ("PUT", "/guilds/1/members/2/roles/3", "PUT /guilds/1/members/{id}/roles/{id}"),
        ("POST", "/users/@me/channels", "POST /users/@me/channels"),
    ],
)
def test_route_keys_keep_only_the_major_parameter(method: str, path: str, key: str) -> None:
    assert route_key(method, path) == key


def test_allowed_mentions_parse_nothing_and_list_only_user_ids() -> None:
    assert allowed_mentions_for(None) == {
        "parse": [],
        "users": [],
        "roles": [],
        "replied_user": False,
    }
    spec = {"parse": ["everyone", "roles"], "users": ["123", "not-an-id", 456], "roles": ["9"]}
    assert allowed_mentions_for(spec) == {
        "parse": [],
        "users": ["123", "456"],
        "roles": [],
        "replied_user": False,
    }
