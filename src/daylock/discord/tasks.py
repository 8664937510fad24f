"""Procrastinate tasks of the outbox (PostgreSQL only; autodiscovered by
``procrastinate.contrib.django`` as each app's ``tasks`` module).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.contrib.django import app
from procrastinate.jobs import Job

from daylock.discord import delivery, lifecycle, membership, services

logger = logging.getLogger(__name__)

#: Job retries: the row's own attempts cap Discord failures (then it is ``failed``);
#: the extra ones cover crashes (a crash leaves the row ``queued`` for the sweep).
JOB_MAX_ATTEMPTS = delivery.MAX_DELIVERY_ATTEMPTS + 3
#: The sweep only re-schedules rows that have waited at least this long.
SWEEP_AFTER = timedelta(minutes=2)


class DeliveryRetry(Exception):
    """A transient Discord failure: the job is retried (after ``retry_after`` if given)."""

    def __init__(self, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OutboxRetryStrategy(BaseRetryStrategy):
    """Exponential backoff (2, 4, 8, … s, at most 5 min), or Discord's ``retry_after``."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts >= JOB_MAX_ATTEMPTS:
            return None
        seconds = min(2.0 ** (job.attempts + 1), 300.0)
        retry_after = getattr(exception, "retry_after", None)
        if isinstance(retry_after, int | float):
            seconds = max(seconds, float(retry_after))
        return RetryDecision(retry_in={"seconds": int(seconds) + 1})


@app.task(
    name=services.DELIVER_TASK,
    queue=services.QUEUE,
    retry=OutboxRetryStrategy(),
)
def deliver_outbox_message(message_id: int) -> str:
    """Deliver one outbox row (idempotent: a row not queued any more is skipped)."""
    result = delivery.deliver(message_id)
    logger.info("outbox #%s: %s %s", message_id, result.outcome, result.detail)
    if result.outcome == delivery.Outcome.RETRY:
        raise DeliveryRetry(result.detail, result.retry_after)
    return result.outcome.value


@app.periodic(cron="*/5 * * * *")
@app.task(
    name="daylock.discord.sweep_outbox",
    queue=services.QUEUE,
    queueing_lock="daylock.discord.sweep_outbox",
)
def sweep_outbox(timestamp: int) -> int:
    """Re-schedule rows still ``queued`` whose job got lost (e.g. a restore, a crash), and
    rows a dead worker left ``sending`` (delivery judges them against the nonce window)."""
    count = services.outbox_requeue_waiting(older_than=SWEEP_AFTER)
    if count:
        logger.info("outbox sweep: %s waiting message(s) scheduled again", count)
    return count


#: Guild membership kept fresh for the draws (:mod:`daylock.discord.membership`). A
#: worker that starts defers the latest tick if it is under 10 minutes old (procrastinate's
#: look-back), so with a 10-minute period a fresh worker syncs at once.
SYNC_MEMBERS_CRON = f"*/{membership.WORKER_EVERY_MINUTES} * * * *"


@app.periodic(cron=SYNC_MEMBERS_CRON)
@app.task(
    name="daylock.discord.sync_members",
    queue=services.QUEUE,
    queueing_lock="daylock.discord.sync_members",
)
def sync_members(timestamp: int) -> str:
    """``daylock discord sync-members``, periodically: closing a prize's entries needs a
    recent complete sync. A failure fails the job (visible, logged); the next tick tries
    again."""
    result = membership.members_sync(trigger="worker")
    return result.summary()


@app.periodic(cron="* * * * *")
@app.task(
    name="daylock.discord.lifecycle_tick",
    queue=services.QUEUE,
    queueing_lock="daylock.discord.lifecycle_tick",
)
def lifecycle_tick(timestamp: int) -> int:
    """Every minute: the event life cycle's posts that ``clock.now()`` made due ("Day N
    is open", the last-day reminder). Each is keyed in the outbox, so a tick that runs
    twice, or in two workers, writes nothing twice (:mod:`daylock.discord.lifecycle`)."""
    return lifecycle.lifecycle_tick()
