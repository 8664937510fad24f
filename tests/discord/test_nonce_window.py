"""At most once beyond Discord's nonce window (issue 12, item 5).

Discord deduplicates a repeated ``enforce_nonce`` message only for a few minutes. A
send whose outcome is unknown (the worker died mid-request, a timeout, a 5xx) is
repeated automatically only while that window still covers it; after it, the row is
``uncertain`` and never sent again without staff. The emulator deduplicates over its
own clock, which these tests move as far as they move the row's ``send_started_at``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from daylock.config import DeliveryMode
from daylock.discord import delivery, services
from daylock.discord.client import DiscordClient, RateLimitedError, TransientError
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.services import outbox_enqueue
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import PLAYER_USER_ID, WINNER_ROLE_ID
from tests.config_override import config_override, production

pytestmark = pytest.mark.django_db

CHANNEL = "710000000000000001"
#: Past both windows: ours (2 min) and the emulator's (300 s, like Discord's).
LONG_AFTER = timedelta(minutes=6)


def allowlist() -> Any:
    return config_override(
        discord_delivery=DeliveryMode.ALLOWLIST, discord_allowed_channel_ids=frozenset({CHANNEL})
    )


def posts(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(r"/messages$") if r["method"] == "POST"]


class DiesAfterTheRequest(DiscordClient):
    """A worker killed after Discord acted on the request, before it heard the answer."""

    def create_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        super().create_message(*args, **kwargs)
        raise KeyboardInterrupt("worker killed mid-request")

    def add_role(self, *args: Any, **kwargs: Any) -> None:
        super().add_role(*args, **kwargs)
        raise KeyboardInterrupt("worker killed mid-request")


def left_in_doubt(emulator: RunningEmulator, *, ago: timedelta) -> OutboxMessage:
    """A channel message whose worker died mid-send ``ago`` ago (on both clocks)."""
    row = outbox_enqueue(kind="channel_message", content="You won!", channel_id=CHANNEL)
    with pytest.raises(KeyboardInterrupt):
        delivery.deliver(row.pk, client=DiesAfterTheRequest())
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENDING  # committed before the request left
    assert row.send_started_at is not None
    assert row.attempts == 1
    OutboxMessage.objects.filter(pk=row.pk).update(send_started_at=row.send_started_at - ago)
    emulator.advance_clock(ago.total_seconds())
    assert len(emulator.messages(CHANNEL)) == 1  # Discord has it; the row does not know
    return row


def test_past_the_window_a_send_in_doubt_becomes_uncertain_and_is_never_repeated(
    daylock_discord: RunningEmulator,
) -> None:
    with allowlist():
        row = left_in_doubt(daylock_discord, ago=LONG_AFTER)
        result = delivery.deliver(row.pk)
        assert result.outcome == "uncertain"
        row.refresh_from_db()
        assert row.status == OutboxStatus.UNCERTAIN
        assert "its outcome is unknown" in row.delivery_note
        assert "counted as 2 min" in row.delivery_note
        assert f"look in channel:{CHANNEL}, then resend or discard it" in row.delivery_note
        assert len(posts(daylock_discord)) == 1  # no second request…
        assert len(daylock_discord.messages(CHANNEL)) == 1  # …and no second message
        # Never again automatically: not by delivery, not by the sweep.
        assert delivery.deliver(row.pk).outcome == "skipped"
        assert services.outbox_requeue_waiting() == 0
    assert len(posts(daylock_discord)) == 1
    # Control: the same nonce now would post a duplicate (the emulator's window is over),
    # so the assertions above could have failed.
    DiscordClient().create_message(CHANNEL, row.content, nonce=row.nonce)
    assert len(daylock_discord.messages(CHANNEL)) == 2


def test_within_the_window_it_is_sent_again_with_the_same_nonce_and_deduplicated(
    daylock_discord: RunningEmulator,
) -> None:
    with allowlist():
        row = left_in_doubt(daylock_discord, ago=timedelta(seconds=90))
        assert delivery.deliver(row.pk).outcome == "sent"
    first, second = posts(daylock_discord)
    assert first["body"]["nonce"] == second["body"]["nonce"] == row.nonce
    assert second["body"]["enforce_nonce"] is True
    [message] = daylock_discord.messages(CHANNEL)
    row.refresh_from_db()
    assert (row.status, row.discord_message_id, row.attempts) == (
        OutboxStatus.SENT,
        message["id"],
        2,
    )
    assert row.send_started_at is None


def test_the_window_setting_can_shorten_it_but_never_lengthen_it() -> None:
    assert delivery.nonce_window() == delivery.NONCE_WINDOW == timedelta(minutes=2)
    with override_settings(DAYLOCK_DISCORD_NONCE_WINDOW_SECONDS=5):
        assert delivery.nonce_window() == timedelta(seconds=5)
    with override_settings(DAYLOCK_DISCORD_NONCE_WINDOW_SECONDS=3600):
        assert delivery.nonce_window() == timedelta(minutes=2)


def test_a_shorter_window_makes_a_recent_doubt_uncertain(daylock_discord: RunningEmulator) -> None:
    with allowlist(), override_settings(DAYLOCK_DISCORD_NONCE_WINDOW_SECONDS=5):
        row = left_in_doubt(daylock_discord, ago=timedelta(seconds=10))
        assert delivery.deliver(row.pk).outcome == "uncertain"
    row.refresh_from_db()
    assert "counted as 5 s" in row.delivery_note
    assert len(posts(daylock_discord)) == 1


def test_a_5xx_leaves_the_send_in_doubt_and_a_late_retry_is_uncertain(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("error", "/messages$", count=100, status=500)
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
        client = DiscordClient(backoff_base=0.001, max_attempts=2)
        assert delivery.deliver(row.pk, client=client).outcome == "retry"
        row.refresh_from_db()
        # Discord may have acted before failing: the doubt is kept across the retry.
        assert (row.status, row.attempts) == (OutboxStatus.QUEUED, 1)
        assert row.send_started_at is not None
        started = row.send_started_at
        assert delivery.deliver(row.pk, client=client).outcome == "retry"
        row.refresh_from_db()
        assert row.send_started_at == started  # the *first* attempt in doubt counts
        daylock_discord.emulator.clear_faults()
        OutboxMessage.objects.filter(pk=row.pk).update(send_started_at=started - LONG_AFTER)
        assert delivery.deliver(row.pk).outcome == "uncertain"
    assert len(posts(daylock_discord)) == 4  # 2 attempts x 2 tries, none after the window


def test_a_refused_connection_leaves_nothing_in_doubt() -> None:
    # The test configuration's API base is a closed port: nothing can have been sent.
    with production():
        row = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
        client = DiscordClient(backoff_base=0.001, max_attempts=2)
        for _ in range(delivery.MAX_DELIVERY_ATTEMPTS - 1):
            assert delivery.deliver(row.pk, client=client).outcome == "retry"
            row.refresh_from_db()
            assert row.send_started_at is None
        assert delivery.deliver(row.pk, client=client).outcome == "failed"  # safe to retry
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED


def test_giving_up_with_a_send_in_doubt_is_uncertain_not_failed(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("error", "/messages$", count=1000, status=502)
    client = DiscordClient(backoff_base=0.001, max_attempts=1)
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
        outcomes = [
            delivery.deliver(row.pk, client=client).outcome
            for _ in range(delivery.MAX_DELIVERY_ATTEMPTS)
        ]
    assert outcomes == ["retry"] * (delivery.MAX_DELIVERY_ATTEMPTS - 1) + ["uncertain"]
    row.refresh_from_db()
    assert row.status == OutboxStatus.UNCERTAIN
    assert "gave up after 5 attempts; one of them may have reached Discord" in row.delivery_note


def test_role_changes_in_doubt_are_repeated_whatever_the_delay(
    daylock_discord: RunningEmulator,
) -> None:
    """Granting a role twice grants it once: no window applies."""
    with production():
        row = outbox_enqueue(kind="role_grant", recipient_id=PLAYER_USER_ID, role_id=WINNER_ROLE_ID)
        with pytest.raises(KeyboardInterrupt):
            delivery.deliver(row.pk, client=DiesAfterTheRequest())
        OutboxMessage.objects.filter(pk=row.pk).update(send_started_at=timezone.now() - LONG_AFTER)
        assert delivery.deliver(row.pk).outcome == "sent"
    assert [c["action"] for c in daylock_discord.role_changes()] == ["add", "add"]


def test_no_attempt_starts_after_the_deadline(daylock_discord: RunningEmulator) -> None:
    daylock_discord.add_fault("error", "/messages$", count=100, status=502)
    client = DiscordClient(backoff_base=0.2, max_attempts=10)
    with pytest.raises(TransientError, match="not sent again: past the deadline") as failed:
        client.create_message(CHANNEL, "x", nonce="late", resend_until=client.deadline(0.45))
    assert failed.value.maybe_delivered is True  # the 502s may have been processed
    assert len(posts(daylock_discord)) == 2  # at 0 s and 0.2 s; the next would be at 0.6 s


def test_a_request_answered_only_with_429s_was_not_delivered(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("rate_limit", "/messages$", retry_after=120)
    with pytest.raises(RateLimitedError) as limited:
        DiscordClient().create_message(CHANNEL, "x", nonce="n429")
    assert limited.value.maybe_delivered is False


def test_a_row_another_worker_is_delivering_is_skipped(daylock_discord: RunningEmulator) -> None:
    """The advisory lock is held from claim to record, across the commit of 'sending'."""
    with allowlist():
        row = outbox_enqueue(kind="channel_message", content="once", channel_id=CHANNEL)
    key = (delivery._LOCK_NAMESPACE << 32) | row.pk
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [key])
        with allowlist():
            result = delivery.deliver(row.pk)
        assert (result.outcome, result.detail) == ("skipped", "another worker is delivering it")
        assert daylock_discord.requests() == []
        other.execute("SELECT pg_advisory_unlock(%s)", [key])
    with allowlist():
        assert delivery.deliver(row.pk).outcome == "sent"


def test_the_sweep_picks_up_rows_left_sending_but_never_uncertain_ones() -> None:
    sending = outbox_enqueue(kind="channel_message", content="a", channel_id=CHANNEL)
    uncertain = outbox_enqueue(kind="channel_message", content="b", channel_id=CHANNEL)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=sending.pk).update(
        status=OutboxStatus.SENDING, send_started_at=now
    )
    OutboxMessage.objects.filter(pk=uncertain.pk).update(
        status=OutboxStatus.UNCERTAIN, send_started_at=now - LONG_AFTER
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    # Even the periodic sweep, which waits two minutes for queued rows, takes it at once.
    assert services.outbox_requeue_waiting(older_than=timedelta(minutes=2)) == 1
    from tests.discord.helpers import outbox_jobs

    assert [job["message_id"] for job in outbox_jobs()] == [sending.pk]
