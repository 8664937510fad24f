"""Django's PostgreSQL backend, with a health check that needs no round trip.

Daylock keeps connections open between requests (``CONN_MAX_AGE``) and checks them
before reuse (``CONN_HEALTH_CHECKS``), because ``daylock reset`` drops the database
under a running server and every worker must reconnect instead of failing a request.
Django's check sends ``SELECT 1`` at the start of every request: a round trip that
cost as much as the day page's own query.

A connection the server has closed or terminated (``pg_terminate_backend``, ``DROP
DATABASE … WITH (FORCE)``, a restart) has something to read: the server's FATAL
message, then end of file. So an idle connection whose socket has nothing to read is
reused as it is, and only one with unread input pays for the full ``SELECT 1`` check.
A connection lost without a word (a cable cut) is caught by neither check before use;
the request fails and Django discards the connection, exactly as with ``SELECT 1``
between its check and the first query.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status == pq.TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return True
        return bool(super().is_usable())
