"""Reads of the Discord outbox (staff page, ``daylock outbox list``)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from daylock import config
from daylock.discord.models import OutboxMessage, OutboxStatus


def outbox_list(*, status: str | None = None, limit: int | None = None) -> QuerySet[OutboxMessage]:
    """Newest first; ``status`` must be an :class:`OutboxStatus` value when given."""
    messages = OutboxMessage.objects.order_by("-created_at", "-id")
    if status:
        if status not in OutboxStatus.values:
            raise ValueError(
                f"unknown status {status!r}; use one of {', '.join(OutboxStatus.values)}"
            )
        messages = messages.filter(status=status)
    return messages[:limit] if limit else messages


def outbox_get(*, message_id: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=message_id).first()


def outbox_counts() -> dict[str, int]:
    """How many rows per status (every status present, zero when none)."""
    counts = dict.fromkeys(OutboxStatus.values, 0)
    for row in OutboxMessage.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def outbox_content_visible(message: OutboxMessage) -> bool:
    """Staff may read a message's full text outside production (a mail catcher).

    In production real members' DMs are not for browsing: the pages show a preview.
    """
    return config.policy().outbox_full_content
