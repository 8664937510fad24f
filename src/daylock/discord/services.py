"""Writes of the Discord app: putting messages in the outbox and scheduling delivery.

``outbox_enqueue`` is the one way the rest of Daylock asks for a Discord side effect.
It writes the row inside the caller's transaction, so the message exists if and only
if the change that caused it commits.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from daylock import config
from daylock.core.services import audit_record
from daylock.discord import delivery, messages
from daylock.discord.client import (
    AUDIT_REASON_MAX,
    NONCE_MAX_LENGTH,
    DiscordClient,
    DiscordError,
    PermanentError,
    allowed_mentions_for,
    client_for,
)
from daylock.discord.models import OutboxKind, OutboxMessage, OutboxStatus
from daylock.discord_identity import canonical_id, snowflake_problem

logger = logging.getLogger(__name__)

#: Discord's limit on a message's content.
MAX_CONTENT_LENGTH = messages.CONTENT_MAX
QUEUE = "outbox"
#: The procrastinate task that delivers one row (defined in daylock.discord.tasks).
DELIVER_TASK = "daylock.discord.deliver_outbox_message"


class OutboxError(ValueError):
    """A request for a Discord side effect that cannot be valid."""


def queue_available() -> bool:
    """True where a procrastinate queue exists (PostgreSQL); False on the SQLite default."""
    return apps.is_installed("procrastinate.contrib.django")


def new_nonce() -> str:
    """A unique nonce within Discord's 25-character limit (``dl`` + 22 hex digits)."""
    nonce = "dl" + secrets.token_hex(11)
    assert len(nonce) <= NONCE_MAX_LENGTH
    return nonce


def _snowflake(name: str, value: str | int | None, *, required: bool) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise OutboxError(f"{name} is required for this kind of outbox message")
        return ""
    if not text.isdigit():
        raise OutboxError(f"{name}={text!r} is not a Discord id (a snowflake of digits)")
    return text


def outbox_enqueue(
    *,
    kind: str,
    content: str = "",
    embeds: Sequence[Mapping[str, Any]] = (),
    channel_id: str | int | None = None,
    recipient_id: str | int | None = None,
    role_id: str | int | None = None,
    guild_id: str | int | None = None,
    source: str = "",
    mention_user_ids: Sequence[str | int] = (),
    reason: str = "",
    dedup_key: str | None = None,
) -> OutboxMessage:
    """Put one Discord side effect in the outbox; delivered after the transaction commits.

    Call it inside the transaction of the change that causes it: if that transaction
    rolls back, neither the row nor its delivery job exists. ``kind`` is an
    :class:`OutboxKind` value:

    * ``channel_message``: ``channel_id`` and ``content`` and/or ``embeds``;
    * ``direct_message``: ``recipient_id`` (the Discord user id) and ``content`` and/or
      ``embeds``;
    * ``role_grant`` / ``role_remove``: ``recipient_id`` and ``role_id``; ``guild_id``
      defaults to this environment's guild.

    A message is usually built by :mod:`daylock.discord.messages`
    (``**post.outbox_fields()``). ``embeds`` are Discord's embed objects, checked here
    against Discord's documented limits (a row Discord would refuse is never written);
    the row stores content, embeds and ``allowed_mentions`` exactly as delivery sends
    them. Nothing in the text pings anyone: only ``mention_user_ids`` are allowed to be
    mentioned (``@everyone`` and role mentions never are). ``reason`` (role changes)
    goes to the server's audit log with the row's number. The environment is stamped
    on the row; whether it is ever sent is decided at delivery.

    Ids must be digits here; whether they are real Discord ids (17-20 digits) is judged
    at delivery, so that seeded test users (short ids that can be nobody's) can still
    have their messages captured outside production.

    ``dedup_key`` names a side effect that must exist once: a second row with the same
    key raises ``IntegrityError`` (unique in the database, whatever races), and nothing
    of this call is left behind (see :func:`daylock.discord.lifecycle.enqueue_once`).
    """
    try:
        kind = OutboxKind(kind)
    except ValueError:
        raise OutboxError(f"kind={kind!r} is not one of {', '.join(OutboxKind.values)}") from None
    cfg = config.current()
    is_message = kind in {OutboxKind.CHANNEL_MESSAGE, OutboxKind.DIRECT_MESSAGE}
    is_role = not is_message
    channel = _snowflake("channel_id", channel_id, required=kind == OutboxKind.CHANNEL_MESSAGE)
    recipient = _snowflake(
        "recipient_id", recipient_id, required=kind != OutboxKind.CHANNEL_MESSAGE
    )
    role = _snowflake("role_id", role_id, required=is_role)
    guild = _snowflake(
        "guild_id",
        guild_id if guild_id else (cfg.discord_guild_id if is_role else None),
        required=is_role,
    )
    if is_message:
        if not content.strip() and not embeds:
            raise OutboxError(f"content or an embed is required for a {kind.label.lower()}")
        if len(content) > MAX_CONTENT_LENGTH:
            raise OutboxError(
                f"content is {len(content)} characters; Discord allows {MAX_CONTENT_LENGTH}"
            )
        problem = messages.embeds_problem(embeds)
        if problem:
            raise OutboxError(f"{problem}: Discord would refuse the message (50035)")
    elif content or embeds:
        raise OutboxError("a role change has no content and no embeds")
    if reason and is_message:
        raise OutboxError("only a role change has an audit-log reason")
    mentions = [_snowflake("mention_user_ids", user, required=True) for user in mention_user_ids]

    with transaction.atomic():
        message = OutboxMessage.objects.create(
            kind=kind,
            content=content,
            embeds=[dict(embed) for embed in embeds],
            channel_id=channel,
            recipient_id=recipient,
            role_id=role,
            guild_id=guild,
            source=source[:200],
            allowed_mentions=allowed_mentions_for({"users": mentions}) if is_message else {},
            nonce=new_nonce(),
            environment=cfg.app_env.value,
            audit_reason=" ".join(reason.split())[:AUDIT_REASON_MAX],
            dedup_key=dedup_key or None,
        )
        schedule_delivery(message.pk)
    return message


def schedule_delivery(message_id: int) -> None:
    """Arrange for one row to be delivered once the current transaction commits.

    On PostgreSQL the procrastinate job is written on Django's connection, inside the
    current transaction: the job commits or rolls back together with the row (no window
    in which a crash leaves a committed row without a job). On the SQLite development
    default there is no queue: the row is delivered in-process right after commit
    (capture mode there simply records it as captured).
    """
    if queue_available():
        from procrastinate.contrib.django import app
        from procrastinate.contrib.django.django_connector import DjangoConnector
        from procrastinate.exceptions import AlreadyEnqueued

        def defer() -> None:
            try:
                with transaction.atomic():  # a savepoint: a duplicate must not break the caller
                    # By name: the task module imports this one, not the reverse.
                    app.configure_task(
                        DELIVER_TASK, queue=QUEUE, queueing_lock=f"outbox:{message_id}"
                    ).defer(message_id=message_id)
            except AlreadyEnqueued:
                logger.debug("outbox #%s already has a waiting job", message_id)

        if isinstance(app.connector, DjangoConnector):
            defer()
        else:
            # Inside the worker the app uses its own connection pool, outside our
            # transaction: defer only once the row is committed.
            transaction.on_commit(defer)
    else:
        # robust: the change already committed; a failed delivery must not fail it.
        transaction.on_commit(lambda: _deliver_inline(message_id), robust=True)


def _deliver_inline(message_id: int) -> None:
    result = delivery.deliver(message_id)
    logger.info("outbox #%s delivered inline: %s", message_id, result.outcome)


def outbox_requeue_waiting(*, older_than: timedelta = timedelta(0)) -> int:
    """Schedule every waiting row again (the sweep for jobs that got lost): ``queued``
    rows older than ``older_than``, and every ``sending`` row (a worker died mid-send;
    delivery decides whether a repeat is still safe, see :mod:`daylock.discord.delivery`).

    Safe to run any time: a row that still has a waiting job is skipped by the
    queueing lock, and delivery itself skips rows that are not waiting or that another
    worker is delivering right now.
    """
    cutoff = timezone.now() - older_than
    ids = list(
        OutboxMessage.objects.filter(
            Q(status=OutboxStatus.QUEUED, created_at__lte=cutoff) | Q(status=OutboxStatus.SENDING)
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    for message_id in ids:
        if queue_available():
            schedule_delivery(message_id)
        else:
            _deliver_inline(message_id)
    return len(ids)


def outbox_retry(
    *, message: OutboxMessage, actor_id: int | None, actor_label: str
) -> OutboxMessage:
    """Staff: put a ``failed`` row back in the queue (audit-logged)."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status != OutboxStatus.FAILED:
            raise OutboxError(
                f"outbox message #{locked.pk} is {locked.status}; "
                "only failed messages can be retried"
            )
        previous_attempts = locked.attempts
        locked.status = OutboxStatus.QUEUED
        locked.attempts = 0
        locked.delivery_note = f"retried by {actor_label} after {previous_attempts} attempts"
        locked.save()
        audit_record(
            actor_id=actor_id,
            actor_label=actor_label,
            action="outbox.retry",
            target=f"outbox:{locked.pk}",
            details={
                "kind": locked.kind,
                "target": locked.target,
                "attempts": previous_attempts,
                "last_error": locked.last_error,
            },
        )
        schedule_delivery(locked.pk)
    return locked


def outbox_resend(
    *, message: OutboxMessage, actor_id: int | None, actor_label: str
) -> OutboxMessage:
    """Staff: send an ``uncertain`` row again (audit-logged).

    For when staff looked in the channel and the message is not there. It keeps its
    nonce: should Discord still remember it, the repeat returns the first message.
    """
    with transaction.atomic():
        locked = _lock_uncertain(message, verb="resent")
        details = _uncertain_details(locked)
        locked.status = OutboxStatus.QUEUED
        locked.send_started_at = None
        locked.attempts = 0
        locked.delivery_note = f"resent by {actor_label} after an uncertain send"
        locked.save()
        audit_record(
            actor_id=actor_id,
            actor_label=actor_label,
            action="outbox.resend",
            target=f"outbox:{locked.pk}",
            details=details,
        )
        schedule_delivery(locked.pk)
    return locked


def outbox_discard(
    *, message: OutboxMessage, actor_id: int | None, actor_label: str
) -> OutboxMessage:
    """Staff: never send an ``uncertain`` row (audit-logged), e.g. it did arrive."""
    with transaction.atomic():
        locked = _lock_uncertain(message, verb="discarded")
        details = _uncertain_details(locked)
        locked.status = OutboxStatus.DISCARDED
        locked.delivery_note = f"discarded by {actor_label} after an uncertain send"
        locked.save()
        audit_record(
            actor_id=actor_id,
            actor_label=actor_label,
            action="outbox.discard",
            target=f"outbox:{locked.pk}",
            details=details,
        )
    return locked


def _lock_uncertain(message: OutboxMessage, *, verb: str) -> OutboxMessage:
    locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
    if locked.status != OutboxStatus.UNCERTAIN:
        raise OutboxError(
            f"outbox message #{locked.pk} is {locked.status}; only uncertain messages can be {verb}"
        )
    return locked


def _uncertain_details(message: OutboxMessage) -> dict[str, Any]:
    started = message.send_started_at
    return {
        "kind": message.kind,
        "target": message.target,
        "nonce": message.nonce,
        "attempts": message.attempts,
        "send_started_at": started.isoformat() if started else None,
        "delivery_note": message.delivery_note,
        "last_error": message.last_error,
    }


# --- delivery paused (Discord refused the token) ----------------------------------------


def delivery_resume(*, actor_id: int | None, actor_label: str) -> bool:
    """Staff: lift the pause a 401 put on delivery (audit-logged); False when there was
    none. Do it after setting the bot's current token and restarting the workers: a
    token Discord still refuses pauses delivery again at its next send."""
    client = client_for()
    pause = client.limits.paused()
    if pause is None:
        return False
    client.limits.resume()
    audit_record(
        actor_id=actor_id,
        actor_label=actor_label,
        action="outbox.resume",
        target="discord:delivery",
        details={"paused_since": pause.since, "detail": pause.detail},
    )
    waiting = outbox_requeue_waiting()
    logger.warning("delivery resumed by %s; %s waiting message(s) scheduled", actor_label, waiting)
    return True


# --- ids staff enter, checked with Discord ------------------------------------------------


def discord_id_check(
    *, kind: Literal["channel", "role"], id: str, client: DiscordClient | None = None
) -> str | None:
    """Ask Discord whether ``id`` is a usable channel or role of this environment's
    server; None when it is, else what is wrong and what to do (for a form error).

    A channel must exist, be visible to the bot, be a text channel and belong to
    ``DISCORD_GUILD_ID``; a role must be one of that server's roles that the bot may
    grant (not ``@everyone``, not managed by an integration, below the bot's highest
    role — Discord refuses the grant with 50013 otherwise). When Discord cannot be
    asked, that is the answer too: saving an unchecked id is what this prevents.
    """
    problem = snowflake_problem(id)
    if problem:
        return f"{kind} id {problem}"
    cfg = config.current()
    guild = canonical_id(cfg.discord_guild_id) or cfg.discord_guild_id
    client = client or client_for(cfg)
    try:
        if kind == "channel":
            return _channel_problem(client, channel_id=id, guild_id=guild)
        return _role_problem(client, role_id=id, guild_id=guild)
    except PermanentError as exc:
        if exc.code == 10003:
            return (
                f"channel {id} does not exist in Discord (10003): copy its id again (Discord: "
                "Developer Mode, then right-click the channel → Copy Channel ID)"
            )
        if exc.code == 50001:
            return (
                f"the bot cannot see channel {id} (50001): give the bot's role View Channel "
                "and Send Messages there, or pick another channel"
            )
        return f"Discord refused to look up {kind} {id} ({exc}); check the id and try again"
    except DiscordError as exc:
        return f"could not check {kind} {id} with Discord ({exc}); try again in a moment"


def _channel_problem(client: DiscordClient, *, channel_id: str, guild_id: str) -> str | None:
    channel = client.get_channel(channel_id)
    name = f"#{channel.get('name')}" if channel.get("name") else channel_id
    found = canonical_id(channel.get("guild_id")) if channel.get("guild_id") else None
    if found != guild_id:
        where = f"server {found}" if found else "no server (a DM)"
        return (
            f"channel {channel_id} ({name}) belongs to {where}, not this environment's server "
            f"(DISCORD_GUILD_ID={guild_id}): pick a channel of that server"
        )
    if channel.get("type") not in {0, 5}:
        return f"channel {channel_id} ({name}) is not a text channel: pick a text channel"
    return None


def _role_problem(client: DiscordClient, *, role_id: str, guild_id: str) -> str | None:
    roles = {str(role.get("id")): role for role in client.guild_roles(guild_id)}
    role = roles.get(role_id)
    if role is None:
        return (
            f"role {role_id} is not a role of this environment's server "
            f"(DISCORD_GUILD_ID={guild_id}): pick one of its roles (Server Settings → Roles)"
        )
    name = f"@{role.get('name')}"
    if role_id == guild_id:
        return f"role {role_id} is {name}, which everyone has: pick another role"
    if role.get("managed"):
        return (
            f"role {role_id} ({name}) is managed by an integration (a bot's own role): "
            "Discord does not let anyone grant it; pick another role"
        )
    bot = client.me()
    member = client.guild_member(guild_id, str(bot.get("id")))
    top = max(
        (int(roles[r].get("position") or 0) for r in member.get("roles", []) if r in roles),
        default=0,
    )
    if int(role.get("position") or 0) >= top:
        return (
            f"role {role_id} ({name}) sits at or above the bot's highest role: Discord would "
            "refuse to grant it (50013). In Server Settings → Roles, drag the bot's role "
            "above it, then save again"
        )
    return None
