"""Delivering one outbox row: the single gate between Daylock and Discord.

Whether a row leaves is decided here, at delivery time, on every row, from
``config.current()`` — never from anything stored in the row — so a row written under
one configuration and delivered under another obeys the one that is running:

1. the running delivery mode must be one this environment's policy allows (defence in
   depth: the start guards already refuse ``live`` outside production);
2. a row written by another environment (a production row in a copied database) is
   never sent: ``blocked``;
3. ``capture``: nothing is sent: ``captured``;
4. ``allowlist``: only *channel messages* to a channel listed in
   ``DISCORD_ALLOWED_CHANNEL_IDS`` are sent. Direct messages and role changes are
   ``blocked``: a DM reaches a real person's inbox wherever they are, and a role is a
   prize-like effect, which outside production is always simulated
   (``policy.simulated_prizes``), so neither has a rule that is clearly safe. The allow
   list is the operator's statement of which channels belong to the test server, and
   it is not trusted alone: before a send, Discord is asked which guild the channel is
   in (``GET /channels/{id}``, cached per process for a few minutes,
   :func:`daylock.discord.identity.channel_guild`) and a channel of any other guild
   than ``DISCORD_GUILD_ID`` is ``blocked``. A channel id listed in
   ``PRODUCTION_DISCORD_IDS`` is refused here even if allow-listed;
5. ``live``: everything is sent.

In ``allowlist`` and ``live``, a row whose ids are not Discord ids (17 to 20 digits, below
2**64) is not sent at all: it fails with the id named (Discord would answer 50035). A
refusal from Discord fails the row with what it means for staff
(:mod:`daylock.discord.refusals`); a 401 pauses every worker instead, and rate limits,
a Cloudflare ban and 40003 send the row back to wait without using up its attempts.
Nothing waits for Discord inside the row's transaction (the channel lookup included).
Settled rows are announced with ``signals.outbox_settled`` (a role prize is fulfilled
when its grant is ``sent``).

At most once, and exactly once while Discord can help: a row is sent by one worker at
a time (a PostgreSQL advisory lock held for the whole claim, send and record, plus
``SELECT … FOR UPDATE SKIP LOCKED`` on the row), and before any request leaves, the
row is committed as ``sending`` with ``send_started_at``. A worker that dies
mid-request leaves exactly that behind: an outcome nobody knows. Messages carry the
row's nonce with ``enforce_nonce``, and Discord deduplicates a repeat only for a few
minutes, so a row in doubt is sent again automatically only while
:func:`nonce_window` (conservatively shorter than Discord's) still covers its first
unknown attempt; after that it becomes ``uncertain`` and waits for staff, who can see
the channel, to resend or discard it. Role changes are idempotent on Discord's side and
are simply repeated.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from daylock import config
from daylock.config import Config, DeliveryMode
from daylock.discord import identity, refusals, signals
from daylock.discord.client import (
    PAUSE_RETRY,
    Banned,
    DeliveryPaused,
    DiscordClient,
    DiscordError,
    PermanentError,
    RateLimitedError,
    Unauthorized,
    client_for,
    message_body,
)
from daylock.discord.identity import ChannelGuild
from daylock.discord.models import OutboxKind, OutboxMessage, OutboxStatus
from daylock.discord_identity import canonical_id, canonical_ids, snowflake_problem

logger = logging.getLogger(__name__)

#: After this many failed sends a row is ``failed`` (staff can retry it), or
#: ``uncertain`` when one of them may have reached Discord.
MAX_DELIVERY_ATTEMPTS = 5
#: How long after a send whose outcome is unknown a repeat with the same nonce is still
#: deduplicated by Discord. Discord documents "a few minutes" (observed: about five);
#: two is deliberately conservative: a row past it is never repeated automatically.
NONCE_WINDOW = timedelta(minutes=2)
#: Kinds that would post a second message if repeated outside the nonce window (role
#: changes are idempotent: granting a role twice grants it once).
REPEAT_UNSAFE_KINDS = frozenset({OutboxKind.CHANNEL_MESSAGE, OutboxKind.DIRECT_MESSAGE})
#: High half of the advisory-lock key of "delivering outbox row N" ("DLOB").
_LOCK_NAMESPACE = 0x444C4F42
#: Outcomes announced with ``signals.outbox_settled`` (Discord, or the mode, decided).
SETTLED = frozenset(
    {
        OutboxStatus.SENT,
        OutboxStatus.CAPTURED,
        OutboxStatus.BLOCKED,
        OutboxStatus.FAILED,
        OutboxStatus.UNCERTAIN,
    }
)
#: Discord's JSON codes delivery reads: an id that is not one, and a repeated nonce
#: whose first message was deleted since.
INVALID_FORM_BODY = 50035
UNKNOWN_MESSAGE = 10008


def nonce_window() -> timedelta:
    """:data:`NONCE_WINDOW`, or the Django setting ``DAYLOCK_DISCORD_NONCE_WINDOW_SECONDS``
    when it is shorter (tests). Never longer: a longer window would repeat messages
    Discord no longer deduplicates."""
    configured = getattr(settings, "DAYLOCK_DISCORD_NONCE_WINDOW_SECONDS", None)
    if configured is None:
        return NONCE_WINDOW
    return min(NONCE_WINDOW, timedelta(seconds=float(configured)))


class Action(enum.StrEnum):
    SEND = "send"
    CAPTURE = "capture"
    BLOCK = "block"
    #: Allowed so far, but the channel's guild must come from Discord first: call
    #: :func:`decide` again with ``channel=``.
    VERIFY = "verify"
    #: Would be sent, but a target is not a Discord id: Discord would answer 50035, so
    #: nothing is sent and the row fails with the id named.
    REFUSE = "refuse"


@dataclass(frozen=True)
class Decision:
    action: Action
    note: str = ""


def decide(message: OutboxMessage, cfg: Config, *, channel: ChannelGuild | None = None) -> Decision:
    """What the running configuration allows for this row (pure; no I/O).

    ``channel`` is what Discord said about the target channel's guild; in allowlist
    mode a channel message is sent only with it (otherwise the answer is ``VERIFY``).
    """
    mode = cfg.discord_delivery
    policy = cfg.policy
    if mode not in policy.allowed_delivery_modes:
        allowed = ", ".join(sorted(m.value for m in policy.allowed_delivery_modes))
        return Decision(
            Action.BLOCK,
            f"delivery mode {mode.value!r} is not allowed in {policy.name} (allowed: {allowed})",
        )
    if message.environment != cfg.app_env.value:
        return Decision(
            Action.BLOCK,
            f"written by {message.environment or 'an unknown environment'}, "
            f"not by this environment ({policy.name}): never sent",
        )
    if mode == DeliveryMode.CAPTURE:
        return Decision(Action.CAPTURE, "delivery mode is capture: nothing is sent")
    if mode == DeliveryMode.ALLOWLIST:
        return _decide_allowlist(message, cfg, channel)
    if mode == DeliveryMode.LIVE:
        problem = invalid_target(message)
        if problem:
            return Decision(Action.REFUSE, problem)
        return Decision(Action.SEND)
    return Decision(Action.BLOCK, f"unknown delivery mode {mode!r}")  # pragma: no cover


def _decide_allowlist(
    message: OutboxMessage, cfg: Config, channel: ChannelGuild | None
) -> Decision:
    if message.kind != OutboxKind.CHANNEL_MESSAGE:
        return Decision(
            Action.BLOCK,
            "allowlist mode sends only channel messages; a "
            f"{message.get_kind_display().lower()} is never sent outside production",
        )
    target = message.channel_id
    production_ids = canonical_ids(cfg.production_discord_ids)
    if canonical_id(target) in production_ids:
        return Decision(Action.BLOCK, f"channel {target} is a production id")
    problem = invalid_target(message)
    if problem:
        return Decision(Action.REFUSE, problem)
    if target not in cfg.discord_allowed_channel_ids:
        return Decision(Action.BLOCK, f"channel {target} is not in DISCORD_ALLOWED_CHANNEL_IDS")
    if channel is None:
        return Decision(
            Action.VERIFY, f"channel {target} is allow-listed; Discord must confirm its guild"
        )
    if channel.channel_id != target:
        return Decision(
            Action.BLOCK,
            f"the guild check was for channel {channel.channel_id}, not {target}: never sent",
        )
    if channel.guild_id is None:
        return Decision(
            Action.BLOCK,
            f"channel {target} is not a channel of any server Discord shows the bot "
            f"({channel.detail}): never sent",
        )
    if channel.guild_id in production_ids:
        return Decision(
            Action.BLOCK,
            f"channel {target} belongs to guild {channel.guild_id}, which is production's: "
            "never sent",
        )
    if channel.guild_id != canonical_id(cfg.discord_guild_id):
        return Decision(
            Action.BLOCK,
            f"channel {target} belongs to guild {channel.guild_id}, not the test server "
            f"DISCORD_GUILD_ID={cfg.discord_guild_id}: never sent",
        )
    return Decision(
        Action.SEND,
        f"channel {target} is allow-listed and in the test server ({cfg.discord_guild_id})",
    )


def invalid_target(message: OutboxMessage) -> str:
    """Which id of the row is not a Discord id (strictly: 17-20 digits, below 2**64),
    in words staff can act on; "" when every id it would send is one."""
    if message.kind == OutboxKind.CHANNEL_MESSAGE:
        ids = {"channel_id": message.channel_id}
    elif message.kind == OutboxKind.DIRECT_MESSAGE:
        ids = {"recipient_id": message.recipient_id}
    else:
        ids = {
            "guild_id": message.guild_id,
            "recipient_id": message.recipient_id,
            "role_id": message.role_id,
        }
    for name, value in ids.items():
        problem = snowflake_problem(value)
        if problem:
            return f"{name} {problem}"
    return ""


class Outcome(enum.StrEnum):
    SENT = "sent"
    CAPTURED = "captured"
    BLOCKED = "blocked"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # a send may have happened; not repeated automatically
    RETRY = "retry"  # a transient failure; try again later
    SKIPPED = "skipped"  # not waiting any more, or another worker holds it


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    message_id: int
    detail: str = ""
    retry_after: float | None = None


def deliver(message_id: int, *, client: DiscordClient | None = None) -> DeliveryResult:
    """Deliver one waiting row (``queued``, or ``sending`` left by a dead worker) under
    the running configuration.

    Never raises for Discord's answers: the result says what happened, and the row
    records it. Any other exception after the send started leaves the row ``sending``
    (its outcome is unknown), for the next delivery to judge against the nonce window.
    Call it outside a transaction, as the worker does, so that ``sending`` is committed
    before the request leaves.
    """
    cfg = config.current()
    with _exclusive(message_id) as mine:
        if not mine:
            return DeliveryResult(Outcome.SKIPPED, message_id, "another worker is delivering it")
        return _deliver(message_id, cfg, client)


@contextlib.contextmanager
def _exclusive(message_id: int) -> Iterator[bool]:
    """Hold "delivering row N" for the whole claim, send and record (PostgreSQL).

    A session-level advisory lock, not a row lock: it must outlive the commit of
    ``sending``, and it dies with the worker's connection, so a row ``sending`` whose
    lock is free belongs to nobody (its worker is gone). The SQLite development default
    sends nothing (capture only) and runs deliveries inline: it needs no lock.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = (_LOCK_NAMESPACE << 32) | (message_id & 0xFFFFFFFF)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        row = cursor.fetchone()
    acquired = bool(row and row[0])
    try:
        yield acquired
    finally:
        if acquired:
            # A lost connection took the lock along with it.
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _deliver(message_id: int, cfg: Config, client: DiscordClient | None) -> DeliveryResult:
    window = nonce_window()
    with transaction.atomic():
        message = _lock_waiting(message_id)
        if message is None:
            return DeliveryResult(Outcome.SKIPPED, message_id, "not waiting, or being delivered")
        first_unknown = message.send_started_at
        decision = decide(message, cfg)
        if decision.action != Action.VERIFY:
            settled = _settle_or_claim(message, decision, first_unknown, window)
            if settled is not None:
                return settled
    if decision.action == Action.VERIFY:
        # Discord is asked which guild the channel is in *outside* any transaction: the
        # lookup may wait out a rate limit, and the row's lock must not wait with it.
        client = client or client_for(cfg)
        try:
            facts = identity.channel_guild(message.channel_id, client=client)
        except DiscordError as exc:  # Discord did not answer: nothing was sent
            with transaction.atomic():
                locked = _lock_waiting(message_id)
                if locked is None:
                    return DeliveryResult(Outcome.SKIPPED, message_id, "no longer waiting")
                if not isinstance(exc, RateLimitedError):
                    locked.attempts += 1
                return _transient(locked, exc, first_unknown=first_unknown, sent=False)
        with transaction.atomic():
            locked = _lock_waiting(message_id)
            if locked is None:
                return DeliveryResult(Outcome.SKIPPED, message_id, "no longer waiting")
            message, first_unknown = locked, locked.send_started_at
            decision = decide(message, cfg, channel=facts)
            settled = _settle_or_claim(message, decision, first_unknown, window)
            if settled is not None:
                return settled

    # The row is committed as ``sending``; no transaction is open while Discord answers.
    client = client or client_for(cfg)
    resend_until = None
    if message.kind in REPEAT_UNSAFE_KINDS and message.send_started_at is not None:
        left = message.send_started_at + window - timezone.now()
        resend_until = client.deadline(left.total_seconds())
    try:
        _send(message, client, resend_until=resend_until)
    except Unauthorized as exc:
        return _paused(message, exc, first_unknown=first_unknown)
    except PermanentError as exc:
        if exc.code == UNKNOWN_MESSAGE and message.kind in REPEAT_UNSAFE_KINDS:
            return _sent_then_deleted(message, exc, decision)
        return _refused(message, exc, first_unknown=first_unknown)
    except RateLimitedError as exc:
        if not exc.maybe_delivered:
            message.attempts -= 1  # waiting for Discord's limits is not a failed attempt
        return _transient(message, exc, first_unknown=first_unknown, sent=True)
    except DiscordError as exc:  # TransientError
        return _transient(message, exc, first_unknown=first_unknown, sent=True)
    message.sent_at = timezone.now()
    message.last_error = ""
    message.discord_code = None
    message.send_started_at = None
    _finish(message, OutboxStatus.SENT, note=decision.note)
    return DeliveryResult(Outcome.SENT, message_id, message.discord_message_id)


def _lock_waiting(message_id: int) -> OutboxMessage | None:
    """The row, locked for this transaction, if it still waits for delivery."""
    return (
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(pk=message_id, status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING])
        .first()
    )


def _settle_or_claim(
    message: OutboxMessage, decision: Decision, first_unknown: datetime | None, window: timedelta
) -> DeliveryResult | None:
    """Inside the row's transaction: finish the row when nothing is to be sent (captured,
    blocked, refused, uncertain), else commit it as ``sending`` and return None."""
    message_id = message.pk
    if decision.action in {Action.CAPTURE, Action.BLOCK}:
        capture = decision.action == Action.CAPTURE
        note = decision.note + _doubt(first_unknown)
        _finish(message, OutboxStatus.CAPTURED if capture else OutboxStatus.BLOCKED, note=note)
        if not capture:
            logger.warning("outbox #%s blocked: %s", message_id, note)
        return DeliveryResult(Outcome.CAPTURED if capture else Outcome.BLOCKED, message_id, note)
    if decision.action == Action.REFUSE:
        message.discord_code = INVALID_FORM_BODY
        message.last_error = decision.note
        explained = refusals.explain(message, code=INVALID_FORM_BODY)
        note = f"failed: {explained.short}: not sent: {decision.note}; {explained.fix}"
        _finish(message, OutboxStatus.FAILED, note=note)
        logger.error("outbox #%s refused before sending: %s", message_id, decision.note)
        return DeliveryResult(Outcome.FAILED, message_id, decision.note)
    now = timezone.now()
    if (
        first_unknown is not None
        and message.kind in REPEAT_UNSAFE_KINDS
        and now - first_unknown >= window
    ):
        note = (
            f"a send started {first_unknown:%Y-%m-%d %H:%M:%S} UTC and its outcome is "
            f"unknown; Discord's nonce deduplication (counted as {_seconds(window)}) no "
            f"longer covers a repeat, so it is not sent again automatically: look in "
            f"{message.target}, then resend or discard it"
        )
        _finish(message, OutboxStatus.UNCERTAIN, note=note)
        logger.warning("outbox #%s uncertain: %s", message_id, note)
        return DeliveryResult(Outcome.UNCERTAIN, message_id, note)
    # Committed before any byte leaves: a worker that dies mid-request leaves this.
    message.status = OutboxStatus.SENDING
    message.send_started_at = first_unknown or now
    message.attempts += 1
    message.save(update_fields=["status", "send_started_at", "attempts", "updated_at"])
    return None


def _refused(
    message: OutboxMessage, exc: PermanentError, *, first_unknown: datetime | None
) -> DeliveryResult:
    """Discord said no: ``failed``, with what it means for staff and what to fix."""
    message.last_error = str(exc)  # first: what Discord refused is read from it
    message.discord_code = exc.code
    explained = refusals.explain(message, code=exc.code, status=exc.status)
    message.send_started_at = first_unknown  # this attempt's outcome is known: refused
    note = f"failed: {explained.short}: {explained.fix}" + _doubt(first_unknown)
    _finish(message, OutboxStatus.FAILED, note=note)
    logger.error("outbox #%s failed permanently: %s (%s)", message.pk, exc, explained.short)
    return DeliveryResult(Outcome.FAILED, message.pk, str(exc))


def _sent_then_deleted(
    message: OutboxMessage, exc: PermanentError, decision: Decision
) -> DeliveryResult:
    """A repeat answered 404 Unknown Message: Discord created the message on an earlier
    attempt (same nonce), and someone has deleted it since. Delivered; not posted again."""
    message.sent_at = timezone.now()
    message.last_error = str(exc)
    message.discord_code = None
    message.send_started_at = None
    note = (
        "delivered by an earlier attempt and deleted in Discord since (a repeat with the same "
        "nonce answered 10008 Unknown Message): not posted again"
    )
    _finish(message, OutboxStatus.SENT, note=" ".join(filter(None, [decision.note, note])))
    logger.warning("outbox #%s: %s", message.pk, note)
    return DeliveryResult(Outcome.SENT, message.pk, note)


def _paused(
    message: OutboxMessage, exc: Unauthorized, *, first_unknown: datetime | None
) -> DeliveryResult:
    """Discord refused the bot token: the row waits (no attempt counted) while every
    worker is paused, instead of failing, and so does every row after it."""
    message.attempts -= 1
    message.last_error = str(exc)
    message.send_started_at = first_unknown
    message.status = OutboxStatus.QUEUED
    message.delivery_note = (
        "waiting: delivery is paused because Discord refused the bot token (401); it is sent "
        "once staff resume delivery on the outbox page"
    )
    message.save(
        update_fields=[
            "status",
            "attempts",
            "last_error",
            "send_started_at",
            "delivery_note",
            "updated_at",
        ]
    )
    return DeliveryResult(Outcome.RETRY, message.pk, str(exc), PAUSE_RETRY)


def _transient(
    message: OutboxMessage, exc: DiscordError, *, first_unknown: datetime | None, sent: bool
) -> DeliveryResult:
    """A failure that may pass: wait for a retry, or give up after the last attempt."""
    message.last_error = str(exc)
    if not (sent and getattr(exc, "maybe_delivered", True)):
        message.send_started_at = first_unknown  # this attempt surely did not reach Discord
    retry_after = getattr(exc, "retry_after", None)
    if message.attempts >= MAX_DELIVERY_ATTEMPTS:
        given_up = f"gave up after {message.attempts} attempts"
        if message.send_started_at is not None and message.kind in REPEAT_UNSAFE_KINDS:
            note = (
                f"{given_up}; one of them may have reached Discord: look in "
                f"{message.target}, then resend or discard it"
            )
            _finish(message, OutboxStatus.UNCERTAIN, note=note)
            return DeliveryResult(Outcome.UNCERTAIN, message.pk, str(exc))
        _finish(message, OutboxStatus.FAILED, note=given_up)
        return DeliveryResult(Outcome.FAILED, message.pk, str(exc))
    message.status = OutboxStatus.QUEUED
    fields = ["status", "attempts", "last_error", "send_started_at", "updated_at"]
    if isinstance(exc, RateLimitedError):
        message.delivery_note = _waiting_note(exc)
        fields.append("delivery_note")
    message.save(update_fields=fields)
    logger.warning("outbox #%s attempt %s failed: %s", message.pk, message.attempts, exc)
    return DeliveryResult(Outcome.RETRY, message.pk, str(exc), retry_after)


def _waiting_note(exc: RateLimitedError) -> str:
    seconds = f"{exc.retry_after:.0f} s"
    if isinstance(exc, DeliveryPaused):
        return (
            "waiting: delivery is paused because Discord refused the bot token (401); it is "
            "sent once staff resume delivery on the outbox page"
        )
    if isinstance(exc, Banned):
        return f"waiting: Discord (Cloudflare) bans this client for now; retried in {seconds}"
    if exc.code == 40003:
        return f"waiting: Discord says DMs are opened too fast (40003); retried in {seconds}"
    return f"waiting: Discord's rate limit; retried in {seconds}"


def _doubt(first_unknown: datetime | None) -> str:
    if first_unknown is None:
        return ""
    started = f"{first_unknown:%Y-%m-%d %H:%M:%S} UTC"
    return f" (an earlier send, started {started}, may have reached Discord)"


def _seconds(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _send(
    message: OutboxMessage, client: DiscordClient, *, resend_until: float | None = None
) -> None:
    """The HTTP side; fills ``discord_message_id`` / ``delivered_channel_id``."""
    if message.kind == OutboxKind.CHANNEL_MESSAGE:
        sent = client.create_message(
            message.channel_id,
            message.content,
            nonce=message.nonce,
            embeds=message.embeds,
            allowed_mentions=message.allowed_mentions,
            resend_until=resend_until,
        )
        message.discord_message_id = str(sent.get("id", ""))
        message.delivered_channel_id = message.channel_id
    elif message.kind == OutboxKind.DIRECT_MESSAGE:
        channel_id, sent = client.send_dm(
            message.recipient_id,
            message.content,
            nonce=message.nonce,
            embeds=message.embeds,
            allowed_mentions=message.allowed_mentions,
            resend_until=resend_until,
        )
        message.discord_message_id = str(sent.get("id", ""))
        message.delivered_channel_id = channel_id
    elif message.kind == OutboxKind.ROLE_GRANT:
        client.add_role(
            message.guild_id, message.recipient_id, message.role_id, reason=audit_reason(message)
        )
    elif message.kind == OutboxKind.ROLE_REMOVE:
        client.remove_role(
            message.guild_id, message.recipient_id, message.role_id, reason=audit_reason(message)
        )
    else:  # pragma: no cover - the check constraint forbids it
        raise PermanentError(0, None, f"unknown kind {message.kind!r}", "outbox")


def request_of(message: OutboxMessage) -> dict[str, Any]:
    """The request :func:`_send` makes for the row, as staff read it (the outbox page's
    raw payload): method, path and, for a message, Create Message's JSON body built by
    the same function the client sends it with; for a role change, its audit-log reason.
    A DM goes to the DM channel Discord opens for the user (its id once delivered)."""
    if message.kind in REPEAT_UNSAFE_KINDS:
        channel = message.channel_id or message.delivered_channel_id
        where = channel or f"{{DM channel of user {message.recipient_id}}}"
        return {
            "method": "POST",
            "path": f"/channels/{where}/messages",
            "json": message_body(
                content=message.content,
                embeds=message.embeds,
                nonce=message.nonce,
                allowed_mentions=message.allowed_mentions,
            ),
        }
    method = "PUT" if message.kind == OutboxKind.ROLE_GRANT else "DELETE"
    return {
        "method": method,
        "path": (
            f"/guilds/{message.guild_id}/members/{message.recipient_id}/roles/{message.role_id}"
        ),
        "headers": {"X-Audit-Log-Reason": audit_reason(message)},
    }


def audit_reason(message: OutboxMessage) -> str:
    """What the server's audit log says about a role change Daylock made: the reason
    the row carries, and always which outbox row it was."""
    own = f"Daylock outbox #{message.pk}" + (f" ({message.source})" if message.source else "")
    return f"{message.audit_reason} [{own}]" if message.audit_reason else own


def _finish(message: OutboxMessage, status: OutboxStatus, *, note: str) -> None:
    """Record an outcome; a settled row is announced (``outbox_settled``) once saved."""
    message.status = status
    message.delivery_note = note
    message.save()
    if status in SETTLED:
        signals.outbox_settled.send(sender=OutboxMessage, message=message)
