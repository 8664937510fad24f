"""Writes shared by every app."""

from __future__ import annotations

from typing import Any

from daylock import config
from daylock.core.models import AuditLog


def audit_record(
    *,
    action: str,
    target: str,
    details: dict[str, Any],
    actor_id: int | None = None,
    actor_label: str = "cli",
) -> AuditLog:
    """One audit row, stamped with the running environment.

    Call it inside the transaction of the action it records, so both commit or neither.
    ``actor_label`` survives the user's deletion ("cli" for commands, "discord" for
    syncs from Discord).
    """
    return AuditLog.objects.create(
        environment=config.current().app_env.value,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target=target,
        details=details,
    )
