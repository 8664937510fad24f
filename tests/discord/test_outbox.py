"""The outbox without Discord: enqueueing, transactions, the delivery decision, capture."""

from __future__ import annotations

import pytest
from django.db import transaction

from daylock.config import DeliveryMode
from daylock.discord import delivery, services
from daylock.discord.delivery import Action, decide
from daylock.discord.identity import ChannelGuild
from daylock.discord.models import OutboxKind, OutboxMessage, OutboxStatus
from daylock.discord.services import OutboxError, outbox_enqueue
from tests.config_override import config_override, production
from tests.discord.helpers import outbox_jobs

pytestmark = pytest.mark.django_db

CHANNEL = "710000000000000001"
OTHER_CHANNEL = "710000000000000002"
USER = "720000000000000001"
ROLE = "730000000000000001"
#: ``allowed_mentions`` as stored and sent: nothing parsed from the text, no role, no one.
NOBODY = {"parse": [], "users": [], "roles": [], "replied_user": False}


def test_enqueue_writes_a_queued_row_stamped_with_environment_and_a_job() -> None:
    message = outbox_enqueue(
        kind="channel_message", content="Winner: <@1>", channel_id=CHANNEL, source="draw:12"
    )
    message.refresh_from_db()
    assert message.status == OutboxStatus.QUEUED
    assert message.environment == "staging"
    assert message.source == "draw:12"
    assert message.attempts == 0
    assert 1 <= len(message.nonce) <= 25
    assert message.allowed_mentions == NOBODY
    assert message.embeds == []
    jobs = outbox_jobs(message.pk)
    assert len(jobs) == 1
    assert jobs[0]["task_name"] == "daylock.discord.deliver_outbox_message"
    assert jobs[0]["status"] == "todo"
    assert jobs[0]["queueing_lock"] == f"outbox:{message.pk}"


def test_nonces_are_unique() -> None:
    nonces = {
        outbox_enqueue(kind="direct_message", content="hi", recipient_id=USER).nonce
        for _ in range(50)
    }
    assert len(nonces) == 50


def test_role_grant_defaults_to_the_environment_guild() -> None:
    message = outbox_enqueue(kind="role_grant", recipient_id=USER, role_id=ROLE)
    assert message.guild_id == "700000000000000002"
    assert message.target == f"guild:700000000000000002/user:{USER}/role:{ROLE}"
    assert message.preview == f"grant role {ROLE}"


def test_mentions_are_only_the_listed_users() -> None:
    message = outbox_enqueue(
        kind="channel_message",
        content="@everyone <@" + USER + "> won",
        channel_id=CHANNEL,
        mention_user_ids=[USER],
    )
    assert message.allowed_mentions == NOBODY | {"users": [USER]}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": "carrier_pigeon", "content": "x"}, "kind='carrier_pigeon' is not one of"),
        ({"kind": "channel_message", "content": "x"}, "channel_id is required"),
        ({"kind": "channel_message", "channel_id": CHANNEL}, "content or an embed is required"),
        (
            {"kind": "channel_message", "channel_id": CHANNEL, "content": "   "},
            "content or an embed is required",
        ),
        (
            {"kind": "channel_message", "channel_id": CHANNEL, "content": "x" * 2001},
            "Discord allows 2000",
        ),
        ({"kind": "channel_message", "channel_id": "#general", "content": "x"}, "not a Discord id"),
        ({"kind": "direct_message", "content": "x"}, "recipient_id is required"),
        ({"kind": "role_grant", "recipient_id": USER}, "role_id is required"),
        ({"kind": "role_remove", "role_id": ROLE}, "recipient_id is required"),
        (
            {"kind": "role_grant", "recipient_id": USER, "role_id": ROLE, "content": "x"},
            "no content",
        ),
        (
            {
                "kind": "role_grant",
                "recipient_id": USER,
                "role_id": ROLE,
                "embeds": [{"title": "x"}],
            },
            "no content and no embeds",
        ),
        (
            {"kind": "channel_message", "channel_id": CHANNEL, "embeds": [{"title": "x" * 257}]},
            "embed 1's title is 257 characters; Discord allows 256",
        ),
        (
            {"kind": "direct_message", "recipient_id": USER, "embeds": [{"title": "t"}] * 11},
            "11 embeds; Discord allows 10",
        ),
    ],
)
def test_invalid_requests_are_refused_with_a_clear_error(
    kwargs: dict[str, str], error: str
) -> None:
    with pytest.raises(OutboxError, match=error):
        outbox_enqueue(**kwargs)  # type: ignore[arg-type]
    assert OutboxMessage.objects.count() == 0
    assert outbox_jobs() == []


def test_a_rolled_back_transaction_leaves_no_row_and_no_job() -> None:
    # The test runs inside a transaction, so this atomic block is a savepoint: rolling it
    # back is exactly what a caller's failed change does to the rows written inside it.
    # (Not a TransactionTestCase: its flush would also wipe the database's stamp row.)
    class Boom(Exception):
        pass

    def award_then_fail() -> None:
        with transaction.atomic():
            outbox_enqueue(kind="channel_message", content="never", channel_id=CHANNEL)
            assert OutboxMessage.objects.count() == 1
            assert len(outbox_jobs()) == 1
            raise Boom

    with pytest.raises(Boom):
        award_then_fail()
    assert OutboxMessage.objects.count() == 0
    assert outbox_jobs() == []
    # …while a committed one keeps both.
    with transaction.atomic():
        kept = outbox_enqueue(kind="channel_message", content="kept", channel_id=CHANNEL)
    assert OutboxMessage.objects.filter(pk=kept.pk).exists()
    assert len(outbox_jobs(kept.pk)) == 1


def _row(**fields: str) -> OutboxMessage:
    base = {
        "kind": OutboxKind.CHANNEL_MESSAGE,
        "channel_id": CHANNEL,
        "content": "hello",
        "environment": "staging",
        "nonce": "n",
    }
    return OutboxMessage(**(base | fields))


def test_decide_capture_sends_nothing() -> None:
    from django.conf import settings

    assert settings.DAYLOCK.discord_delivery == DeliveryMode.CAPTURE
    for kind in OutboxKind.values:
        assert decide(_row(kind=kind), settings.DAYLOCK).action == Action.CAPTURE


def test_decide_allowlist_sends_only_allow_listed_channel_messages() -> None:
    from django.conf import settings

    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        cfg = settings.DAYLOCK
        # Allow-listed: sent only once Discord has said the channel is the test guild's.
        assert decide(_row(), cfg).action == Action.VERIFY
        ours = ChannelGuild(CHANNEL, cfg.discord_guild_id, "guild")
        assert decide(_row(), cfg, channel=ours).action == Action.SEND
        other = decide(_row(channel_id=OTHER_CHANNEL), cfg)
        assert other.action == Action.BLOCK
        assert "not in DISCORD_ALLOWED_CHANNEL_IDS" in other.note
        dm = decide(_row(kind=OutboxKind.DIRECT_MESSAGE, recipient_id=USER), cfg)
        assert dm.action == Action.BLOCK
        assert "direct message is never sent outside production" in dm.note
        for kind in (OutboxKind.ROLE_GRANT, OutboxKind.ROLE_REMOVE):
            assert decide(_row(kind=kind), cfg).action == Action.BLOCK


def test_decide_allowlist_never_sends_to_a_production_id_even_if_listed() -> None:
    from django.conf import settings

    prod_channel = "900000000000000001"
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST,
        discord_allowed_channel_ids=frozenset({prod_channel}),
    ):
        decision = decide(_row(channel_id=prod_channel), settings.DAYLOCK)
    assert decision.action == Action.BLOCK
    assert "production id" in decision.note


@pytest.mark.parametrize(
    ("facts", "note"),
    [
        (
            ChannelGuild(CHANNEL, "800000000000000002", "guild 800000000000000002"),
            "belongs to guild 800000000000000002, not the test server",
        ),
        (ChannelGuild(CHANNEL, "900000000000000002", "guild"), "which is production's"),
        (ChannelGuild(CHANNEL, None, "HTTP 404 code 10003"), "not a channel of any server"),
        (ChannelGuild(OTHER_CHANNEL, "700000000000000002", "guild"), "not " + CHANNEL),
    ],
    ids=["another-guild", "production-guild", "unknown-channel", "facts-for-another-channel"],
)
def test_decide_allowlist_blocks_a_channel_discord_places_elsewhere(
    facts: ChannelGuild, note: str
) -> None:
    from django.conf import settings

    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        decision = decide(_row(), settings.DAYLOCK, channel=facts)
    assert decision.action == Action.BLOCK
    assert note in decision.note
    assert "never sent" in decision.note


def test_decide_refuses_a_mode_the_environment_may_not_use() -> None:
    from django.conf import settings

    with config_override(discord_delivery=DeliveryMode.LIVE):
        decision = decide(_row(), settings.DAYLOCK)
    assert decision.action == Action.BLOCK
    assert "'live' is not allowed in staging" in decision.note


def test_decide_blocks_a_row_written_by_another_environment() -> None:
    from django.conf import settings

    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        decision = decide(_row(environment="production"), settings.DAYLOCK)
    assert decision.action == Action.BLOCK
    assert "written by production" in decision.note
    # And production itself, live, would not send a staging row either.
    with production():
        assert decide(_row(), settings.DAYLOCK).action == Action.BLOCK
        assert decide(_row(environment="production"), settings.DAYLOCK).action == Action.SEND


def test_capture_delivery_records_the_row_and_makes_no_request() -> None:
    # The test configuration's API base is a closed port: any request would fail.
    message = outbox_enqueue(kind="direct_message", content="You won!", recipient_id=USER)
    result = delivery.deliver(message.pk)
    assert result.outcome == delivery.Outcome.CAPTURED
    message.refresh_from_db()
    assert message.status == OutboxStatus.CAPTURED
    assert message.attempts == 0
    assert message.sent_at is None
    assert "capture" in message.delivery_note
    # Delivering again is a no-op (only queued rows are delivered).
    assert delivery.deliver(message.pk).outcome == delivery.Outcome.SKIPPED


def test_delivery_mode_is_read_at_delivery_time_not_at_enqueue() -> None:
    from django.conf import settings

    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        message = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
    assert settings.DAYLOCK.discord_delivery == DeliveryMode.CAPTURE
    assert delivery.deliver(message.pk).outcome == delivery.Outcome.CAPTURED


def test_transient_failures_are_counted_then_failed() -> None:
    # Port 9 refuses connections: a network error, transient.
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        message = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
        from daylock.discord.client import DiscordClient

        client = DiscordClient(backoff_base=0.001, max_attempts=2)
        for attempt in range(1, delivery.MAX_DELIVERY_ATTEMPTS):
            result = delivery.deliver(message.pk, client=client)
            assert result.outcome == delivery.Outcome.RETRY
            message.refresh_from_db()
            assert (message.status, message.attempts) == (OutboxStatus.QUEUED, attempt)
            assert "network error" in message.last_error
        assert delivery.deliver(message.pk, client=client).outcome == delivery.Outcome.FAILED
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED
    assert message.attempts == delivery.MAX_DELIVERY_ATTEMPTS
    assert f"gave up after {delivery.MAX_DELIVERY_ATTEMPTS}" in message.delivery_note


def test_requeue_waiting_schedules_rows_whose_job_was_lost() -> None:
    message = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
    captured = outbox_enqueue(kind="channel_message", content="done", channel_id=CHANNEL)
    delivery.deliver(captured.pk)
    from django.db import connection

    with connection.cursor() as cursor:  # the job got lost (e.g. a restored backup)
        cursor.execute("DELETE FROM procrastinate_jobs")
    assert services.outbox_requeue_waiting() == 1
    assert len(outbox_jobs(message.pk)) == 1
    # A row that still has a waiting job is not given a second one.
    assert services.outbox_requeue_waiting() == 1
    assert len(outbox_jobs(message.pk)) == 1
    assert outbox_jobs(captured.pk) == []


def test_the_task_delivers_and_asks_procrastinate_to_retry_transient_failures() -> None:
    from daylock.discord.tasks import DeliveryRetry, deliver_outbox_message

    captured = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
    assert deliver_outbox_message(message_id=captured.pk) == "captured"
    with config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    ):
        waiting = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
        # The configured API base is a closed port: a transient network failure.
        with pytest.raises(DeliveryRetry, match="network error"):
            deliver_outbox_message(message_id=waiting.pk)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (OutboxStatus.QUEUED, 1)


def test_retry_strategy_backs_off_honours_retry_after_and_stops() -> None:
    from datetime import UTC, datetime

    from procrastinate.jobs import Job

    from daylock.discord.tasks import JOB_MAX_ATTEMPTS, DeliveryRetry, OutboxRetryStrategy

    def job(attempts: int) -> Job:
        return Job(
            queue="outbox",
            lock=None,
            queueing_lock=None,
            task_name="daylock.discord.deliver_outbox_message",
            attempts=attempts,
        )

    strategy = OutboxRetryStrategy()

    def wait(exc: Exception, attempts: int) -> float:
        decision = strategy.get_retry_decision(exception=exc, job=job(attempts))
        assert decision is not None and decision.retry_at is not None
        return (decision.retry_at - datetime.now(UTC)).total_seconds()

    assert 2 < wait(DeliveryRetry("x", None), 0) <= 3
    assert 8 < wait(DeliveryRetry("x", None), 2) <= 9
    assert 256 < wait(DeliveryRetry("x", None), JOB_MAX_ATTEMPTS - 1) <= 257
    assert 119 < wait(DeliveryRetry("x", 120.0), 0) <= 121  # Discord's retry_after wins
    assert strategy.get_retry_decision(exception=RuntimeError(), job=job(JOB_MAX_ATTEMPTS)) is None
