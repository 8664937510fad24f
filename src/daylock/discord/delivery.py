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
   list is the operator's statement of which channels belong to the test server (Discord's
   message API does not say which guild a channel is in without another request); the
   production-identity guard keeps the guild away from production's, and a channel id
   listed in ``PRODUCTION_DISCORD_IDS`` is refused here even if allow-listed;
5. ``live``: everything is sent.

Exactly once: the row is locked (``SELECT … FOR UPDATE SKIP LOCKED``) for the whole
send, so two workers never send it together, and the message carries the row's nonce
with ``enforce_nonce``, so if the process dies after Discord accepted the message but
before the row was marked sent, the retried send returns the same message instead of
posting a second one.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from daylock import config
from daylock.config import Config, DeliveryMode
from daylock.discord.client import DiscordClient, DiscordError, PermanentError
from daylock.discord.models import OutboxKind, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

#: After this many failed sends a row is ``failed`` (staff can retry it).
MAX_DELIVERY_ATTEMPTS = 5


class Action(enum.StrEnum):
    SEND = "send"
    CAPTURE = "capture"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    action: Action
    note: str = ""


def decide(message: OutboxMessage, cfg: Config) -> Decision:
    """What the running configuration allows for this row (pure; no I/O)."""
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
        if message.kind != OutboxKind.CHANNEL_MESSAGE:
            return Decision(
                Action.BLOCK,
                "allowlist mode sends only channel messages; a "
                f"{message.get_kind_display().lower()} is never sent outside production",
            )
        if message.channel_id in cfg.production_discord_ids:
            return Decision(Action.BLOCK, f"channel {message.channel_id} is a production id")
        if message.channel_id not in cfg.discord_allowed_channel_ids:
            return Decision(
                Action.BLOCK,
                f"channel {message.channel_id} is not in DISCORD_ALLOWED_CHANNEL_IDS",
            )
        return Decision(Action.SEND, f"channel {message.channel_id} is allow-listed")
    if mode == DeliveryMode.LIVE:
        return Decision(Action.SEND)
    return Decision(Action.BLOCK, f"unknown delivery mode {mode!r}")  # pragma: no cover


class Outcome(enum.StrEnum):
    SENT = "sent"
    CAPTURED = "captured"
    BLOCKED = "blocked"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure; try again later
    SKIPPED = "skipped"  # not queued any more, or another worker holds it


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    message_id: int
    detail: str = ""
    retry_after: float | None = None


def deliver(message_id: int, *, client: DiscordClient | None = None) -> DeliveryResult:
    """Deliver one queued row under the running configuration.

    Never raises for Discord's answers: the result says what happened, and the row
    records it. A crash (any other exception) rolls the row back to ``queued``.
    """
    cfg = config.current()
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=OutboxStatus.QUEUED)
            .first()
        )
        if message is None:
            return DeliveryResult(Outcome.SKIPPED, message_id, "not queued, or being delivered")
        decision = decide(message, cfg)
        if decision.action == Action.CAPTURE:
            _finish(message, OutboxStatus.CAPTURED, note=decision.note)
            return DeliveryResult(Outcome.CAPTURED, message_id, decision.note)
        if decision.action == Action.BLOCK:
            _finish(message, OutboxStatus.BLOCKED, note=decision.note)
            logger.warning("outbox #%s blocked: %s", message_id, decision.note)
            return DeliveryResult(Outcome.BLOCKED, message_id, decision.note)

        message.attempts += 1
        try:
            _send(message, client or DiscordClient())
        except PermanentError as exc:
            message.last_error = str(exc)
            _finish(message, OutboxStatus.FAILED, note="Discord refused it")
            logger.error("outbox #%s failed permanently: %s", message_id, exc)
            return DeliveryResult(Outcome.FAILED, message_id, str(exc))
        except DiscordError as exc:  # TransientError, RateLimitedError
            message.last_error = str(exc)
            retry_after = getattr(exc, "retry_after", None)
            if message.attempts >= MAX_DELIVERY_ATTEMPTS:
                _finish(
                    message, OutboxStatus.FAILED, note=f"gave up after {message.attempts} attempts"
                )
                return DeliveryResult(Outcome.FAILED, message_id, str(exc))
            message.save(update_fields=["attempts", "last_error", "updated_at"])
            logger.warning("outbox #%s attempt %s failed: %s", message_id, message.attempts, exc)
            return DeliveryResult(Outcome.RETRY, message_id, str(exc), retry_after)
        message.sent_at = timezone.now()
        message.last_error = ""
        _finish(message, OutboxStatus.SENT, note=decision.note)
        return DeliveryResult(Outcome.SENT, message_id, message.discord_message_id)


def _send(message: OutboxMessage, client: DiscordClient) -> None:
    """The HTTP side; fills ``discord_message_id`` / ``delivered_channel_id``."""
    if message.kind == OutboxKind.CHANNEL_MESSAGE:
        sent = client.create_message(
            message.channel_id,
            message.content,
            nonce=message.nonce,
            allowed_mentions=message.allowed_mentions,
        )
        message.discord_message_id = str(sent.get("id", ""))
        message.delivered_channel_id = message.channel_id
    elif message.kind == OutboxKind.DIRECT_MESSAGE:
        channel_id = client.open_dm(message.recipient_id)
        sent = client.create_message(
            channel_id,
            message.content,
            nonce=message.nonce,
            allowed_mentions=message.allowed_mentions,
        )
        message.discord_message_id = str(sent.get("id", ""))
        message.delivered_channel_id = channel_id
    elif message.kind == OutboxKind.ROLE_GRANT:
        client.add_role(message.guild_id, message.recipient_id, message.role_id)
    elif message.kind == OutboxKind.ROLE_REMOVE:
        client.remove_role(message.guild_id, message.recipient_id, message.role_id)
    else:  # pragma: no cover - the check constraint forbids it
        raise PermanentError(0, None, f"unknown kind {message.kind!r}", "outbox")


def _finish(message: OutboxMessage, status: OutboxStatus, *, note: str) -> None:
    message.status = status
    message.delivery_note = note
    message.save()
