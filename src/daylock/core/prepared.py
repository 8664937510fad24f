"""Hand-written SQL for the hottest reads, run as PostgreSQL prepared statements.

Django binds parameters on the client (psycopg's ``ClientCursor``), so PostgreSQL
parses and plans every query anew, and the ORM spends longer building a small query
than PostgreSQL spends answering it. The few statements run on every page view are
therefore written once as plain SQL, PREPAREd once per connection and then EXECUTEd.

Prepared statements belong to the connection and survive rollbacks; a new connection
(restart, ``daylock reset``, a failed health check) prepares again. Like psycopg's own
``prepare_threshold`` this does not suit a pooler in transaction mode (none is used).
Elsewhere (SQLite, the development default) the same SQL is executed directly.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from django.db import connection

#: Per PostgreSQL connection: the names of the statements already PREPAREd on it.
_prepared_on: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


class PreparedQuery:
    """One statement with ``%s`` placeholders, written so PostgreSQL and SQLite both
    run it. ``name`` must be unique among prepared queries (it names the statement)."""

    def __init__(self, name: str, sql: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"prepared statement names are lowercase identifiers: {name!r}")
        self.name = name
        self.sql = sql
        count = sql.count("%s")
        numbered = iter(range(1, count + 1))
        body = re.sub("%s", lambda _: f"${next(numbered)}", sql)
        self._prepare = f"PREPARE {name} AS {body}"
        arguments = f"({', '.join(['%s'] * count)})" if count else ""
        self._execute = f"EXECUTE {name}{arguments}"

    def fetchall(self, params: list[Any]) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute(self.sql, params)
            else:
                done = _prepared_on.setdefault(connection.connection, set())
                if self.name not in done:
                    cursor.execute(self._prepare)
                    done.add(self.name)
                cursor.execute(self._execute, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
