"""Procrastinate tasks of the accounts app (PostgreSQL only; autodiscovered by
``procrastinate.contrib.django`` as each app's ``tasks`` module), run by ``daylock
worker``: the queue is the worker's own."""

from __future__ import annotations

from django.core.management import call_command
from procrastinate.contrib.django import app

from daylock.discord.services import QUEUE

CLEAR_SESSIONS_CRON = "17 * * * *"


@app.periodic(cron=CLEAR_SESSIONS_CRON)
@app.task(
    name="daylock.accounts.clear_expired_sessions",
    queue=QUEUE,
    queueing_lock="daylock.accounts.clear_expired_sessions",
)
def clear_expired_sessions(timestamp: int) -> None:
    """Django's ``clearsessions``, hourly: the database session store never deletes an
    expired row by itself (Django's documentation, "Clearing the session store")."""
    call_command("clearsessions")
