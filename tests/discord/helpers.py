"""Small helpers shared by the outbox tests."""

from __future__ import annotations

from typing import Any

from django.db import connection


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
