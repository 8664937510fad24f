"""Client pieces that need no Discord: the shared limits (in this process and in Redis,
the same rules), route keys, snowflakes, mentions, the audit-log reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from django.conf import settings

from daylock.discord.client import (
    AUDIT_REASON_MAX,
    InvalidId,
    allowed_mentions_for,
    audit_reason_header,
    route_key,
)
from daylock.discord.ratelimits import LocalLimits, RedisLimits
from daylock.discord_identity import canonical_id, snowflake, snowflake_problem


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now


def test_the_global_limit_allows_at_most_the_limit_in_any_window() -> None:
    fake = FakeTime()
    limits = LocalLimits(global_limit=50, global_window=1.0, clock=fake.clock)
    stamps: list[float] = []
    waited = 0
    while len(stamps) < 175:
        wait = limits.acquire(bucket="POST /channels/1/messages", holds=())
        if wait is not None:
            assert wait.reason == "global-limit"
            waited += 1
            fake.now += wait.seconds
            continue
        stamps.append(fake.now)
        fake.now += 0.001  # each request takes a millisecond
    for i, start in enumerate(stamps):
        assert len([t for t in stamps[i:] if t - start < 1.0]) <= 50
    # ...and it does not wait more than needed: 175 requests need just over 3 windows.
    assert 3.0 <= stamps[-1] - stamps[0] < 3.5
    assert waited == 3


def test_a_learned_bucket_is_spent_then_waited_for_until_it_resets() -> None:
    fake = FakeTime()
    limits = LocalLimits(clock=fake.clock)
    limits.learn(bucket="b", remaining=2, reset_after=1.5)
    assert limits.acquire(bucket="b", holds=()) is None
    assert limits.acquire(bucket="b", holds=()) is None
    wait = limits.acquire(bucket="b", holds=())
    assert wait is not None
    assert (wait.reason, wait.seconds) == ("bucket", pytest.approx(1.5))
    assert limits.acquire(bucket="other", holds=()) is None  # buckets are separate
    fake.now += 1.5
    assert limits.acquire(bucket="b", holds=()) is None  # reset: unknown again, may go


def test_within_one_window_the_lowest_remaining_heard_wins() -> None:
    fake = FakeTime()
    limits = LocalLimits(clock=fake.clock)
    limits.learn(bucket="b", remaining=3, reset_after=1.0)
    limits.learn(bucket="b", remaining=4, reset_after=1.0)  # an older answer, arriving late
    assert limits.acquire(bucket="b", holds=()) is None
    assert limits.acquire(bucket="b", holds=()) is None
    assert limits.acquire(bucket="b", holds=()) is None
    assert limits.acquire(bucket="b", holds=()) is not None
    fake.now += 0.9
    limits.learn(bucket="b", remaining=4, reset_after=1.0)  # a new window: its count
    assert limits.acquire(bucket="b", holds=()) is None


def test_holds_and_a_pause_stop_every_request() -> None:
    fake = FakeTime()
    limits = LocalLimits(clock=fake.clock)
    limits.hold(name="global", seconds=2.0)
    wait = limits.acquire(bucket="b", holds=("banned", "global"))
    assert wait is not None
    assert (wait.reason, wait.seconds) == ("global", pytest.approx(2.0))
    assert limits.acquire(bucket="b", holds=("banned",)) is None  # not held for this one
    fake.now += 2.0
    limits.pause(detail="HTTP 401")
    paused = limits.acquire(bucket="b", holds=())
    assert paused is not None
    assert paused.reason == "paused"
    assert not limits.claim_probe(every=300)  # not before the first probe is due
    fake.now += 300
    assert limits.claim_probe(every=300)
    assert not limits.claim_probe(every=300)  # one worker probes, not all
    assert limits.resume()
    assert limits.acquire(bucket="b", holds=()) is None
    assert not limits.resume()


@pytest.fixture
def redis_pair() -> Iterator[tuple[RedisLimits, RedisLimits]]:
    """Two workers' views of one bot's limits (two processes share only Redis)."""
    url = settings.DAYLOCK.redis_url
    assert url, "the tests run with Redis"
    prefix = f"daylock:test:discord:{uuid.uuid4().hex[:8]}"
    first = RedisLimits(redis_url=url, prefix=prefix, global_limit=5, global_window=1.0)
    second = RedisLimits(redis_url=url, prefix=prefix, global_limit=5, global_window=1.0)
    yield first, second
    first.forget()


def test_redis_limits_are_shared_between_workers(
    redis_pair: tuple[RedisLimits, RedisLimits],
) -> None:
    first, second = redis_pair
    for _ in range(3):
        assert first.acquire(bucket="x", holds=()) is None
    for _ in range(2):
        assert second.acquire(bucket="y", holds=()) is None
    wait = first.acquire(bucket="z", holds=())  # the sixth in a second, whoever sends it
    assert wait is not None
    assert wait.reason == "global-limit"
    assert 0 < wait.seconds <= 1.0


def test_redis_buckets_holds_pause_and_dm_channels_are_shared(
    redis_pair: tuple[RedisLimits, RedisLimits],
) -> None:
    first, second = redis_pair
    first.learn(bucket="b", remaining=1, reset_after=30)
    assert second.acquire(bucket="b", holds=()) is None  # the other worker's last one
    wait = first.acquire(bucket="b", holds=())
    assert wait is not None
    assert wait.reason == "bucket"
    assert 25 < wait.seconds <= 30
    first.learn(bucket="b", remaining=3, reset_after=30)  # same window: 0 stays
    assert second.acquire(bucket="b", holds=()) is not None
    second.hold(name="banned", seconds=600)
    banned = first.acquire(bucket="c", holds=("banned",))
    assert banned is not None
    assert banned.reason == "banned"
    assert 590 < first.held(name="banned") <= 600
    first.pause(detail="POST /channels/{id}/messages: HTTP 401")
    pause = second.paused()
    assert pause is not None
    assert pause.detail == "POST /channels/{id}/messages: HTTP 401"
    stopped = second.acquire(bucket="d", holds=())
    assert stopped is not None
    assert stopped.reason == "paused"
    assert second.resume()
    assert first.paused() is None
    first.remember_dm_channel(recipient="100000000000000103", channel="300000000000000001")
    assert second.dm_channel(recipient="100000000000000103") == "300000000000000001"


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


@pytest.mark.parametrize(
    "value",
    [
        "10000000000000000",  # 17 digits, the smallest
        "100000000000000001",
        "18446744073709551615",  # 2**64 - 1
        80351110224678912,
    ],
)
def test_snowflakes_are_17_to_20_digits_below_2_64(value: object) -> None:
    assert snowflake(value) == str(value)
    assert snowflake_problem(value) == ""


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "1 digit,"),
        ("1000001", "7 digits"),  # the seed's test ids: nobody's, never sent
        ("9999999999999999", "16 digits"),
        ("18446744073709551616", "larger than 2**64"),  # 2**64
        ("12345678901234567890123", "23 digits"),
        ("010000000000000001", "starts with 0"),
        (" 100000000000000001", "digits only"),
        ("10000000000000000\u0661", "digits only"),  # an Arabic-Indic digit one
        ("", "empty"),
        (True, "digits only"),
    ],
)
def test_anything_else_is_not_a_snowflake(value: object, why: str) -> None:
    assert snowflake(value) is None
    assert why in snowflake_problem(value)


def test_the_lenient_reading_for_guards_is_unchanged() -> None:
    """Guards read leniently to refuse every spelling of production's ids."""
    assert canonical_id("0100000000000000001") == "100000000000000001"
    assert canonical_id("1000001") == "1000001"
    assert snowflake("0100000000000000001") is None


def test_an_invalid_id_is_refused_before_any_request() -> None:
    from daylock.discord.client import DiscordClient

    client = DiscordClient(token="t", api_base="http://127.0.0.1:9/api/v10")
    with pytest.raises(InvalidId, match="channel_id '0' is not a Discord id"):
        client.create_message("0", "x", nonce="n")
    with pytest.raises(InvalidId, match="role_id '12345678901234567890123'"):
        client.add_role("100000000000000002", "100000000000000103", "12345678901234567890123")
    assert client.stats["requests"] == 0


def test_the_audit_log_reason_is_url_encoded_and_at_most_512_characters() -> None:
    header = audit_reason_header("Prize “Winter keys” — draw 12\nrank 1")
    encoded = header["X-Audit-Log-Reason"]
    assert encoded.isascii()
    assert unquote(encoded) == "Prize “Winter keys” — draw 12 rank 1"
    assert len(unquote(audit_reason_header("x" * 600)["X-Audit-Log-Reason"])) == AUDIT_REASON_MAX
    assert audit_reason_header("  ") == {}


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
