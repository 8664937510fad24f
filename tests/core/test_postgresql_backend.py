"""The database backend's health check: no round trip for a healthy idle connection,
and a connection the server closed is still caught and replaced."""

from __future__ import annotations

import time
from unittest import mock

import psycopg
import pytest
from django.db import close_old_connections, connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

from daylock.accounts.models import User
from daylock.core.postgresql.base import DatabaseWrapper


def _terminate_from_outside(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_configured_engine_is_ours() -> None:
    assert isinstance(connections["default"], DatabaseWrapper)


@pytest.mark.django_db(transaction=True)
def test_a_healthy_idle_connection_is_usable_without_a_query() -> None:
    connection.ensure_connection()
    with mock.patch.object(DjangoWrapper, "is_usable", side_effect=AssertionError("SELECT 1")):
        assert connection.is_usable() is True


@pytest.mark.django_db(transaction=True)
def test_a_terminated_connection_is_not_usable_and_the_next_query_reconnects() -> None:
    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    _terminate_from_outside(old_pid)
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's FATAL message is on its way
    assert connection.is_usable() is False
    close_old_connections()  # what Django does at the start of every request
    assert User.objects.count() >= 0  # the health check failed: a new connection
    assert connection.connection.info.backend_pid != old_pid


@pytest.mark.django_db
def test_inside_a_transaction_the_full_check_runs() -> None:
    """The test's transaction is open: only ``SELECT 1`` can tell (and it passes)."""
    User.objects.exists()  # psycopg begins the transaction with its first statement
    with mock.patch.object(DjangoWrapper, "is_usable", return_value=True) as full:
        assert connection.is_usable() is True
    full.assert_called_once()
