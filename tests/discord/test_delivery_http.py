"""Delivery over real HTTP against the Discord emulator (the only stand-in for Discord).

The emulator records every request it receives, so "nothing reached Discord" is checked
on the receiving side, not by trusting our own bookkeeping.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from daylock.config import DeliveryMode, Environment
from daylock.discord import delivery
from daylock.discord.client import (
    USER_AGENT,
    DiscordClient,
    PermanentError,
    TransientError,
    client_for,
    shared_limits,
)
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.ratelimits import LocalLimits
from daylock.discord.services import outbox_enqueue
from daylock.testing.discord_emulator import RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    PLAYER_USER_ID,
    WINNER_ROLE_ID,
    GuildChannel,
)
from tests.config_override import config_override, production

pytestmark = pytest.mark.django_db

ALLOWED = "710000000000000001"
ALLOWED_TOO = "710000000000000002"
NOT_ALLOWED = "710000000000000003"


def bot_requests(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """Every bot request that asks Discord to do something (the control API is never
    recorded; reads such as allowlist's channel lookups are :func:`lookups`)."""
    return [
        r
        for r in emulator.requests(r"^/api/v10/(channels|users/@me/channels|guilds)")
        if r["method"] != "GET"
    ]


def lookups(emulator: RunningEmulator) -> list[str]:
    """The channels whose guild delivery asked Discord for (``GET /channels/{id}``)."""
    return [
        r["path"].rsplit("/", 1)[1]
        for r in emulator.requests(r"^/api/v10/channels/\d+$")
        if r["method"] == "GET"
    ]


def times(records: list[dict[str, Any]]) -> list[float]:
    return [datetime.fromisoformat(r["time"]).timestamp() for r in records]


def allowlist() -> Any:
    return config_override(
        discord_delivery=DeliveryMode.ALLOWLIST,
        discord_allowed_channel_ids=frozenset({ALLOWED, ALLOWED_TOO}),
    )


def enqueue_one_of_each() -> dict[str, OutboxMessage]:
    return {
        "allowed": outbox_enqueue(kind="channel_message", content="one", channel_id=ALLOWED),
        "allowed_too": outbox_enqueue(
            kind="channel_message", content="two", channel_id=ALLOWED_TOO
        ),
        "other_channel": outbox_enqueue(
            kind="channel_message", content="three", channel_id=NOT_ALLOWED
        ),
        "dm": outbox_enqueue(kind="direct_message", content="psst", recipient_id=PLAYER_USER_ID),
        "role": outbox_enqueue(
            kind="role_grant", recipient_id=PLAYER_USER_ID, role_id=WINNER_ROLE_ID
        ),
    }


def test_client_speaks_like_a_bot(daylock_discord: RunningEmulator) -> None:
    client = DiscordClient()
    sent = client.create_message(
        ALLOWED, "hello @everyone", nonce="n1", allowed_mentions={"users": [PLAYER_USER_ID]}
    )
    [record] = bot_requests(daylock_discord)
    assert record["method"] == "POST"
    assert record["path"] == f"/api/v10/channels/{ALLOWED}/messages"
    assert record["headers"]["Authorization"] == "Bot ***"  # the emulator accepted our token
    assert record["headers"]["User-Agent"] == USER_AGENT
    assert record["body"]["nonce"] == "n1"
    assert record["body"]["enforce_nonce"] is True
    assert record["body"]["allowed_mentions"] == {
        "parse": [],
        "users": [PLAYER_USER_ID],
        "roles": [],
        "replied_user": False,
    }
    assert record["status"] == 200
    assert sent["id"] == daylock_discord.messages(ALLOWED)[0]["id"]


def test_wrong_token_is_a_permanent_error(daylock_discord: RunningEmulator) -> None:
    with pytest.raises(PermanentError, match="HTTP 401"):
        DiscordClient(token="not-the-bot-token").create_message(ALLOWED, "x", nonce="n")
    assert len(bot_requests(daylock_discord)) == 1  # not retried


def test_allowlist_sends_only_to_allow_listed_channels(daylock_discord: RunningEmulator) -> None:
    with allowlist():
        rows = enqueue_one_of_each()
        outcomes = {name: delivery.deliver(row.pk).outcome for name, row in rows.items()}
    assert outcomes == {
        "allowed": "sent",
        "allowed_too": "sent",
        "other_channel": "blocked",
        "dm": "blocked",
        "role": "blocked",
    }
    paths = [r["path"] for r in bot_requests(daylock_discord)]
    assert sorted(paths) == sorted(
        [f"/api/v10/channels/{ALLOWED}/messages", f"/api/v10/channels/{ALLOWED_TOO}/messages"]
    )
    assert daylock_discord.role_changes() == []
    for name, row in rows.items():
        row.refresh_from_db()
        if name.startswith("allowed"):
            assert row.status == OutboxStatus.SENT
            assert row.sent_at is not None
            assert row.discord_message_id == daylock_discord.messages(row.channel_id)[0]["id"]
        else:
            assert row.status == OutboxStatus.BLOCKED
            assert row.delivery_note
            assert row.sent_at is None
    assert "DISCORD_ALLOWED_CHANNEL_IDS" in rows["other_channel"].delivery_note


def test_capture_sends_nothing_at_all(daylock_discord: RunningEmulator) -> None:
    rows = enqueue_one_of_each()
    for row in rows.values():
        assert delivery.deliver(row.pk).outcome == "captured"
    assert daylock_discord.requests() == []
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"captured"}


def test_a_production_row_copied_into_staging_is_never_sent(
    daylock_discord: RunningEmulator,
) -> None:
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="real winner!", channel_id=ALLOWED)
        OutboxMessage.objects.filter(pk=row.pk).update(environment=Environment.PRODUCTION.value)
        assert delivery.deliver(row.pk).outcome == "blocked"
    row.refresh_from_db()
    assert row.status == OutboxStatus.BLOCKED
    assert "written by production" in row.delivery_note
    assert daylock_discord.requests() == []


def test_live_mode_sends_dms_and_role_grants(daylock_discord: RunningEmulator) -> None:
    with production():
        dm = outbox_enqueue(kind="direct_message", content="You won!", recipient_id=PLAYER_USER_ID)
        grant = outbox_enqueue(
            kind="role_grant", recipient_id=PLAYER_USER_ID, role_id=WINNER_ROLE_ID
        )
        assert delivery.deliver(dm.pk).outcome == "sent"
        assert delivery.deliver(grant.pk).outcome == "sent"
    dm.refresh_from_db()
    [message] = daylock_discord.messages()
    assert message["dm_recipient_id"] == PLAYER_USER_ID
    assert message["content"] == "You won!"
    assert dm.discord_message_id == message["id"]
    assert dm.delivered_channel_id == message["channel_id"]
    [change] = daylock_discord.role_changes()
    assert (change["action"], change["user_id"], change["role_id"]) == (
        "add",
        PLAYER_USER_ID,
        WINNER_ROLE_ID,
    )
    assert change["guild_id"] == daylock_discord.config.guild_id


class CrashAfterSend(DiscordClient):
    """A worker that dies after Discord accepted the message, before the row is marked."""

    def create_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        super().create_message(*args, **kwargs)
        raise KeyboardInterrupt("worker killed after the send")


def test_a_send_interrupted_after_discord_accepted_it_is_not_posted_twice(
    daylock_discord: RunningEmulator,
) -> None:
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="winner!", channel_id=ALLOWED)
        with pytest.raises(KeyboardInterrupt):
            delivery.deliver(row.pk, client=CrashAfterSend())
        row.refresh_from_db()
        # "sending" was written before the request left: the outcome is known to be unknown.
        assert row.status == OutboxStatus.SENDING
        assert row.send_started_at is not None
        assert delivery.deliver(row.pk).outcome == "sent"  # well within the nonce window
    posts = bot_requests(daylock_discord)
    assert len(posts) == 2
    assert posts[0]["body"]["nonce"] == posts[1]["body"]["nonce"] == row.nonce
    [message] = daylock_discord.messages(ALLOWED)  # one message, not two
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert row.discord_message_id == message["id"]
    assert row.send_started_at is None


def test_a_row_locked_by_another_worker_is_skipped(daylock_discord: RunningEmulator) -> None:
    """Two workers never send the same row: the second skips the locked row."""
    from django.db import connection

    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="once", channel_id=ALLOWED)
    # Lock the row from a second connection, as a concurrent worker would.
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    # The test's own transaction is not committed: make the row visible to the other
    # connection by locking on a committed copy instead.
    with psycopg.connect(**params, autocommit=False) as other:
        other.execute(
            "INSERT INTO discord_outboxmessage (kind, channel_id, recipient_id, guild_id, "
            "role_id, content, allowed_mentions, nonce, status, attempts, last_error, "
            "environment, created_at, updated_at, delivery_note, source, discord_message_id, "
            "delivered_channel_id) VALUES ('channel_message', %s, '', '', '', 'x', '{}', "
            "'dl-locked-test', 'queued', 0, '', 'staging', now(), now(), '', '', '', '') "
            "RETURNING id",
            [ALLOWED],
        )
        other.commit()
        locked_id = other.execute(
            "SELECT id FROM discord_outboxmessage WHERE nonce = 'dl-locked-test' FOR UPDATE"
        ).fetchone()[0]  # type: ignore[index]
        try:
            with allowlist():
                result = delivery.deliver(locked_id)
            assert result.outcome == "skipped"
            assert bot_requests(daylock_discord) == []
        finally:
            other.rollback()
            other.execute("DELETE FROM discord_outboxmessage WHERE id = %s", [locked_id])
            other.commit()
    assert row.pk != locked_id


def test_429_retry_after_is_waited_out(daylock_discord: RunningEmulator) -> None:
    daylock_discord.add_fault("rate_limit", "/messages", retry_after=0.6)
    started = time.monotonic()
    DiscordClient().create_message(ALLOWED, "patience", nonce="n429")
    elapsed = time.monotonic() - started
    assert elapsed >= 0.6
    first, second = bot_requests(daylock_discord)
    assert (first["status"], first["fault"], second["status"]) == (429, "rate_limit", 200)
    gap = times([second])[0] - times([first])[0]
    assert gap >= 0.6
    assert len(daylock_discord.messages(ALLOWED)) == 1


def test_global_429_holds_back_every_route(daylock_discord: RunningEmulator) -> None:
    # Through the HTTP control API this time.
    requests.post(
        daylock_discord.control_url + "/faults",
        json={
            "kind": "rate_limit",
            "path": "/users/@me/channels",
            "retry_after": 0.8,
            "global": True,
        },
        timeout=5,
    ).raise_for_status()
    client = DiscordClient()
    dm_thread = threading.Thread(target=client.open_dm, args=(PLAYER_USER_ID,))
    dm_thread.start()
    deadline = time.monotonic() + 5
    while not bot_requests(daylock_discord) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the 429 has been answered; the global limit is in force
    client.create_message(ALLOWED, "after the global limit", nonce="nglobal")  # another route
    dm_thread.join(timeout=5)
    records = bot_requests(daylock_discord)
    limited = next(r for r in records if r["status"] == 429)
    message = next(r for r in records if r["path"].endswith("/messages"))
    assert times([message])[0] - times([limited])[0] >= 0.8
    assert [r["status"] for r in records].count(200) == 2


def test_5xx_is_retried_with_backoff(daylock_discord: RunningEmulator) -> None:
    daylock_discord.add_fault("error", "/messages", count=2, status=502)
    client = DiscordClient(backoff_base=0.05)
    client.create_message(ALLOWED, "third time lucky", nonce="n5xx")
    statuses = [r["status"] for r in bot_requests(daylock_discord)]
    assert statuses == [502, 502, 200]
    stamps = times(bot_requests(daylock_discord))
    assert stamps[1] - stamps[0] >= 0.05
    assert stamps[2] - stamps[1] >= 0.1  # doubled
    assert len(daylock_discord.messages(ALLOWED)) == 1


def test_5xx_that_persists_is_a_transient_failure_retried_later(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("error", "/messages", count=100)
    with pytest.raises(TransientError, match="HTTP 500 after 3 attempts"):
        DiscordClient(backoff_base=0.01, max_attempts=3).create_message(ALLOWED, "x", nonce="n")
    daylock_discord.emulator.clear_requests()
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="later", channel_id=ALLOWED)
        result = delivery.deliver(row.pk, client=DiscordClient(backoff_base=0.01, max_attempts=2))
    assert result.outcome == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 1)
    assert "HTTP 500" in row.last_error
    daylock_discord.emulator.clear_faults()
    with allowlist():
        assert delivery.deliver(row.pk).outcome == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, "")


def test_a_refused_message_fails_at_once_with_discords_reason(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.reset(default_config(channels=[GuildChannel(ALLOWED_TOO, "general")]))
    with production():
        row = outbox_enqueue(kind="channel_message", content="hi", channel_id=ALLOWED)
        assert delivery.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == 1
    assert "HTTP 404 code 10003: Unknown Channel" in row.last_error
    assert row.send_started_at is None  # Discord's answer settled it: nothing in doubt
    assert len(bot_requests(daylock_discord)) == 1  # never retried


def test_allowlist_asks_discord_which_guild_a_channel_is_in_before_sending(
    daylock_discord: RunningEmulator,
) -> None:
    """The allow list is the operator's word; Discord's answer decides. A channel of
    another guild, or one Discord does not know, is blocked and never posted to."""
    guild = daylock_discord.config.guild_id
    daylock_discord.reset(
        default_config(
            channels=[
                GuildChannel(ALLOWED, "general"),
                GuildChannel(ALLOWED_TOO, "elsewhere", guild_id="800000000000000002"),
            ]
        )
    )
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST,
        discord_allowed_channel_ids=frozenset({ALLOWED, ALLOWED_TOO, NOT_ALLOWED}),
    ):
        here = [
            outbox_enqueue(kind="channel_message", content=f"{i}", channel_id=ALLOWED)
            for i in range(3)
        ]
        other_guild = outbox_enqueue(kind="channel_message", content="x", channel_id=ALLOWED_TOO)
        unknown = outbox_enqueue(kind="channel_message", content="y", channel_id=NOT_ALLOWED)
        outcomes = [delivery.deliver(row.pk).outcome for row in [*here, other_guild, unknown]]
    assert outcomes == ["sent", "sent", "sent", "blocked", "blocked"]
    assert [r["path"] for r in bot_requests(daylock_discord)] == [
        f"/api/v10/channels/{ALLOWED}/messages"
    ] * 3
    # One lookup per channel: the answer is cached by the process.
    assert lookups(daylock_discord) == [ALLOWED, ALLOWED_TOO, NOT_ALLOWED]
    other_guild.refresh_from_db()
    assert other_guild.status == OutboxStatus.BLOCKED
    assert (
        f"channel {ALLOWED_TOO} belongs to guild 800000000000000002, not the test server "
        f"DISCORD_GUILD_ID={guild}" in other_guild.delivery_note
    )
    unknown.refresh_from_db()
    assert unknown.status == OutboxStatus.BLOCKED
    assert "HTTP 404 code 10003: Unknown Channel" in unknown.delivery_note
    assert unknown.attempts == 0


def test_allowlist_waits_when_discord_cannot_say_which_guild(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("error", r"/channels/\d+$", method="GET", count=100, status=503)
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="later", channel_id=ALLOWED)
        result = delivery.deliver(row.pk, client=DiscordClient(backoff_base=0.001, max_attempts=2))
    assert result.outcome == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.send_started_at) == (OutboxStatus.QUEUED, 1, None)
    assert "GET /channels/" in row.last_error
    assert bot_requests(daylock_discord) == []  # nothing was sent unverified
    daylock_discord.emulator.clear_faults()
    with allowlist():
        assert delivery.deliver(row.pk).outcome == "sent"


def test_an_exhausted_bucket_is_waited_for_before_the_next_request(
    daylock_discord: RunningEmulator,
) -> None:
    # The emulator's buckets allow 5 requests per second per channel.
    client = DiscordClient()
    for i in range(7):
        client.create_message(ALLOWED, f"m{i}", nonce=f"bucket{i}")
    records = bot_requests(daylock_discord)
    assert [r["status"] for r in records] == [200] * 7  # never a 429
    stamps = times(records)
    assert stamps[4] - stamps[0] < 0.9
    assert stamps[5] - stamps[0] >= 0.98  # waited for the bucket to reset


def _max_in_one_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = 0
    for i, start in enumerate(stamps):
        best = max(best, sum(1 for t in stamps[i:] if t - start < 1.0))
    return best


def test_never_more_than_50_requests_per_second(daylock_discord: RunningEmulator) -> None:
    # Control: with an emulator that does not enforce the global limit and a client
    # that does not count, more than 50 arrive in a second, so the assertion can fail.
    daylock_discord.reset(default_config(rate_limit_per_bucket=100000, global_rate_limit=10**6))
    fast = DiscordClient(limits=LocalLimits(global_limit=10**6))
    for i in range(80):
        fast.create_message(ALLOWED, "fast", nonce=f"fast{i}")
    assert _max_in_one_second(times(bot_requests(daylock_discord))) > 50

    # Two workers' clients (the process's shared one, and another counting in the same
    # Redis, as a second process would) against an emulator enforcing Discord's 50/s.
    daylock_discord.reset(default_config(rate_limit_per_bucket=100000))
    clients = [client_for(), DiscordClient(limits=shared_limits(client_for_config()))]
    workers = [
        threading.Thread(
            target=lambda n=n: [
                clients[n % 2].create_message(ALLOWED_TOO, "limited", nonce=f"lim{n}-{i}")
                for i in range(40)
            ]
        )
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    records = bot_requests(daylock_discord)
    assert len(records) == 160
    assert [r["status"] for r in records] == [200] * 160  # no 429: nothing avoidable
    assert _max_in_one_second(times(records)) <= 50


def client_for_config() -> Any:
    from daylock import config

    return config.current()
