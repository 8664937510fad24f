"""Small helpers shared by the outbox tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.db import connection
from django.test import override_settings


def config_override(**changes: Any) -> override_settings:
    """``settings.DAYLOCK`` with some fields replaced (everything reads it at call time)."""
    return override_settings(DAYLOCK=dataclasses.replace(settings.DAYLOCK, **changes))


def outbox_jobs(message_id: int | None = None) -> list[dict[str, Any]]:
    """The procrastinate jobs of the outbox queue (optionally for one message)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, (args->>'message_id')::bigint AS message_id, status, "
            "queueing_lock, attempts FROM procrastinate_jobs "
            "WHERE queue_name = 'outbox' ORDER BY id"
        )
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if message_id is None:
        return rows
    return [row for row in rows if row["message_id"] == message_id]
