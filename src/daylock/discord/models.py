"""The Discord outbox: every message, DM and role change Daylock wants to make.

A row is written in the same transaction as the change that causes it (a draw, a
reroll…), so a rolled-back change leaves no message behind. Whether the row ever
leaves the process is decided at delivery time from the running configuration, never
from the row (see :mod:`daylock.discord.delivery`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import JSONField, Value

from daylock.discord import refusals


class OutboxKind(models.TextChoices):
    CHANNEL_MESSAGE = "channel_message", "Channel message"
    DIRECT_MESSAGE = "direct_message", "Direct message"
    ROLE_GRANT = "role_grant", "Role grant"
    ROLE_REMOVE = "role_remove", "Role removal"


class OutboxStatus(models.TextChoices):
    #: Waiting for delivery (new, or a transient failure waiting for its retry).
    QUEUED = "queued", "Queued"
    #: A send was committed as started before its request left: if the worker dies
    #: mid-request the row stays here, and its outcome is unknown.
    SENDING = "sending", "Sending"
    #: Delivered to Discord (``discord_message_id`` set for messages).
    SENT = "sent", "Sent"
    #: Kept, not sent: the delivery mode is ``capture``. Readable by staff.
    CAPTURED = "captured", "Captured"
    #: Refused at delivery: not allow-listed, another environment's row, or a delivery
    #: mode this environment may not use. ``delivery_note`` says which.
    BLOCKED = "blocked", "Blocked"
    #: Discord refused it, or it kept failing; staff may retry it.
    FAILED = "failed", "Failed"
    #: A send's outcome is unknown (the worker died mid-request, or the request timed
    #: out) and Discord's nonce deduplication no longer covers a repeat: never sent again
    #: automatically. Staff look in the channel, then resend or discard it.
    UNCERTAIN = "uncertain", "Uncertain"
    #: Staff decided an uncertain message is not to be sent again.
    DISCARDED = "discarded", "Discarded"


class OutboxMessage(models.Model):
    kind = models.CharField(max_length=20, choices=OutboxKind.choices)
    channel_id = models.CharField(max_length=32, blank=True)
    #: The Discord user id: who gets the DM, or whose role changes.
    recipient_id = models.CharField(max_length=32, blank=True)
    guild_id = models.CharField(max_length=32, blank=True)
    role_id = models.CharField(max_length=32, blank=True)
    content = models.TextField(blank=True)
    #: Discord's embed objects, sent as stored (the cards of
    #: :mod:`daylock.discord.messages`). With ``content`` and ``allowed_mentions`` it is
    #: the whole Create Message body but the nonce. (A database default too: rows
    #: written by code that predates it stay valid.)
    embeds = models.JSONField(default=list, blank=True, db_default=Value([], JSONField()))
    #: Exactly who may be pinged, as sent: ``parse`` is always empty (no ``@everyone``,
    #: nothing read from the text), ``users`` lists the pinged users.
    allowed_mentions = models.JSONField(default=dict, blank=True)
    #: Sent with ``enforce_nonce`` so a retried send is deduplicated by Discord.
    nonce = models.CharField(max_length=25, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    #: When the earliest send attempt whose outcome Daylock does not know began —
    #: written and committed *before* the request leaves, cleared once Discord's answer
    #: settles it. A repeat is safe only while Discord's nonce window still covers
    #: this instant (see ``daylock.discord.delivery.nonce_window``).
    send_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    #: The environment that wrote the row; a row from elsewhere is never sent.
    environment = models.CharField(max_length=20, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    #: Why the row was captured or blocked (shown to staff).
    delivery_note = models.TextField(blank=True)
    #: What caused it, free text, e.g. ``draw:12``.
    source = models.CharField(max_length=200, blank=True, db_index=True)
    #: Discord's id of the posted message (channel and direct messages).
    discord_message_id = models.CharField(max_length=32, blank=True)
    #: The DM channel a direct message went to (resolved at delivery).
    delivered_channel_id = models.CharField(max_length=32, blank=True)
    #: Discord's JSON code when it refused the row (50007, 50013…): what staff must fix.
    discord_code = models.PositiveIntegerField(null=True, blank=True)
    #: Why a role changes, for the server's audit log (``X-Audit-Log-Reason``).
    #: (A database default too: rows written by code that predates it stay valid.)
    audit_reason = models.CharField(max_length=512, blank=True, default="", db_default="")
    #: What this row is, once and for all (``event:12:day-open:3``): a second row with
    #: the same key is refused by the database, so a post that must exist exactly once
    #: (the event life cycle, :mod:`daylock.discord.lifecycle`) stays single whatever
    #: runs twice. NULL for the rows that may repeat.
    dedup_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="outbox_status_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=OutboxKind.values), name="outbox_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OutboxStatus.values), name="outbox_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} → {self.target} ({self.status})"

    @property
    def target(self) -> str:
        """A short, human description of where this goes."""
        if self.kind == OutboxKind.CHANNEL_MESSAGE:
            return f"channel:{self.channel_id}"
        if self.kind == OutboxKind.DIRECT_MESSAGE:
            return f"user:{self.recipient_id}"
        return f"guild:{self.guild_id}/user:{self.recipient_id}/role:{self.role_id}"

    @property
    def summary(self) -> str:
        """The status as staff read it: ``failed: role above the bot (50013)``."""
        return refusals.summary(self)

    @property
    def preview(self) -> str:
        """One short line: the content, or the first card's title when there is none."""
        if self.kind in {OutboxKind.ROLE_GRANT, OutboxKind.ROLE_REMOVE}:
            verb = "grant" if self.kind == OutboxKind.ROLE_GRANT else "remove"
            return f"{verb} role {self.role_id}"
        first = self.embeds[0] if self.embeds and isinstance(self.embeds[0], dict) else {}
        text = " ".join((self.content or str(first.get("title") or "")).split())
        return text if len(text) <= 60 else text[:59] + "…"
