"""Is the database usable right now? Asked only after a request failed with a
database error, to tell "the database is being replaced" (answer 503, come back
soon) from "a bug met a healthy database" (a real 500).

Why: ``daylock reset`` drops and re-creates staging's database under the running web
server (``DROP DATABASE … WITH (FORCE)`` + ``CREATE DATABASE … TEMPLATE``, or drop,
create, migrate and seed with ``--full``). For that moment every page fails with a
database error; a visitor should see "back in a moment" with the environment banner,
and a load balancer or browser a ``503`` with ``Retry-After``, not a crash. The same
error on a database that is there and complete is a bug, and must stay a 500 so it is
noticed (a blanket "database error means 503" would hide it).

Two checks, made only after a request failed with a database error:

- **Connection lost** (:func:`connection_lost`): the request could not connect, or the
  server ended its session (``DROP DATABASE … WITH (FORCE)`` terminates every session
  of the database). No bug in a query does that, and a fast reset is over in tens of
  milliseconds, often before a probe could see the database missing: the failure
  itself is the evidence.
- **Probe** (:func:`database_usable`): a connection can be made, the stamp table
  (:data:`daylock.stamps.STAMP_TABLE`) can be read and names this environment, and every
  migration this code knows is recorded as applied. The last point covers
  ``reset --full``: its first migration creates the stamp table, and for a second or
  two the other tables do not exist yet (queries fail with "relation does not
  exist" on a live connection).
"""

from __future__ import annotations

import functools
import logging

from django.db import DEFAULT_DB_ALIAS, Error, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from daylock import config
from daylock.stamps import read_database_stamp

logger = logging.getLogger(__name__)

#: Seconds a client should wait before trying again: a fast reset takes well under a
#: second, ``--full`` a few seconds.
RETRY_AFTER_SECONDS = 5


def database_error_in(exc: BaseException | None) -> Error | None:
    """The ``django.db`` error that caused ``exc`` (``exc`` itself or an exception it
    was raised from or while handling), or None. Django wraps every driver error that
    a query or a connection attempt raises in one of ``django.db``'s classes."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Error):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


@functools.cache
def _needed_migrations() -> tuple[tuple[tuple[str, str], tuple[tuple[str, str], ...]], ...]:
    """Each app's latest migration (the migration graph's leaves) and what it replaces,
    read from disk once per process (the code does not change while it runs)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return tuple(
        (leaf, tuple(loader.graph.nodes[leaf].replaces or ()))
        for leaf in sorted(loader.graph.leaf_nodes())
    )


def database_usable(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when ``using`` can be connected to, its environment stamp read and every
    migration of this code is applied (see the module docstring). Never raises: a
    probe that fails for any reason means "not usable". Uses the request's connection
    (:func:`database_unavailable` asks only when that connection is alive)."""
    connection = connections[using]
    try:
        stamp, _ = read_database_stamp(using)
        if stamp is None or stamp.environment != config.current().app_env:
            return False
        applied = MigrationRecorder(connection).applied_migrations()
        return all(
            leaf in applied or (bool(replaces) and all(r in applied for r in replaces))
            for leaf, replaces in _needed_migrations()
        )
    except Error:
        return False
    except Exception:
        logger.exception("database probe failed unexpectedly")
        return False


def connection_lost(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when the request's connection to ``using`` is gone after its error: it
    never connected (the database did not exist), or the server ended the session.
    Asks the backend's ``is_usable()``, which costs no round trip for an idle
    connection (see :mod:`daylock.core.postgresql.base`)."""
    connection = connections[using]
    try:
        return connection.connection is None or not connection.is_usable()
    except Exception:
        logger.exception("could not tell whether the connection is usable")
        return True


def database_unavailable(exc: BaseException | None, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when ``exc`` is a database error and the database is away (being reset):
    the request lost its connection, or the database is not usable now. A database
    error on a live connection to a usable database is a bug: False."""
    if database_error_in(exc) is None:
        return False
    return connection_lost(using=using) or not database_usable(using=using)
