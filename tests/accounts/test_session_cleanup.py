"""The worker clears expired sessions (Django's ``clearsessions``) on a schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session
from procrastinate.contrib.django import app

from daylock.accounts import tasks
from daylock.discord.services import QUEUE

pytestmark = pytest.mark.django_db


def test_clear_expired_sessions_is_a_periodic_job_of_the_workers_queue() -> None:
    periodic = [
        entry
        for entry in app.periodic_registry.periodic_tasks.values()
        if entry.task.name == "daylock.accounts.clear_expired_sessions"
    ]
    assert [(p.cron, p.task.queue) for p in periodic] == [(tasks.CLEAR_SESSIONS_CRON, QUEUE)]


def test_it_deletes_expired_sessions_and_keeps_live_ones() -> None:
    live, expired = SessionStore(), SessionStore()
    live["_auth_user_id"] = "1"
    live.create()
    expired["_auth_user_id"] = "2"
    expired.set_expiry(-timedelta(seconds=1))
    expired.create()
    assert Session.objects.count() == 2
    tasks.clear_expired_sessions(timestamp=0)
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
