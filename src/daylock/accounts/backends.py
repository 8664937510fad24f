"""The authentication backend.

* A banned user is treated like a disabled one, so their existing sessions stop
  authenticating at the next request (no session sweep needed).
* The logged-in user is read on every page view, so :meth:`DaylockBackend.get_user`
  reads them with one prepared statement instead of the ORM's ``get()``, which spent
  three times longer building the query than PostgreSQL spent answering it. The row
  is read fresh on every request (no cache): a ban or a role change applies at once.
* A page that runs one query anyway can read the user's row in it
  (:func:`user_columns_sql`) and hand it over (:func:`prefetched_user`); the backend
  then checks that row exactly as one it read itself, with no round trip of its own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection

from daylock.accounts.models import User
from daylock.core.prepared import PreparedQuery

_USER_FIELDS = User._meta.concrete_fields
#: Model.from_db pairs these up with the columns, in this order.
_USER_ATTNAMES = [field.attname for field in _USER_FIELDS]
#: How many columns :func:`user_columns_sql` selects.
USER_COLUMN_COUNT = len(_USER_FIELDS)
_USER_BY_ID = PreparedQuery(
    "daylock_user_by_id",
    f"SELECT {', '.join(field.column for field in _USER_FIELDS)} "  # noqa: S608 - our names
    f"FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s",
)

#: Rows read by another query for this request: user id → row (None: no such user).
_prefetched: contextvars.ContextVar[dict[int, tuple[Any, ...] | None] | None] = (
    contextvars.ContextVar("daylock_prefetched_user", default=None)
)


def user_columns_sql(alias: str) -> str:
    """The columns :meth:`DaylockBackend.get_user` needs, from the users table
    joined as ``alias``, in the order :func:`prefetched_user` expects them."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in _USER_FIELDS)


@contextmanager
def prefetched_user(user_id: int | None, row: tuple[Any, ...] | None) -> Iterator[None]:
    """Inside the block, ``get_user(user_id)`` takes ``row`` (the user's columns as
    :func:`user_columns_sql` selects them, or None if no such user) instead of
    reading it again. Every other check of ``get_user`` still runs."""
    rows = {} if user_id is None else {user_id: row}
    token = _prefetched.set(rows)
    try:
        yield
    finally:
        _prefetched.reset(token)


class DaylockBackend(ModelBackend):
    def user_can_authenticate(self, user: User | AnonymousUser | None) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_banned", False)

    def get_user(self, user_id: Any) -> User | None:
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        prefetched = _prefetched.get()
        if prefetched is not None and pk in prefetched:
            row = prefetched[pk]
        else:
            rows = _USER_BY_ID.fetchall([pk])
            row = rows[0] if rows else None
        if row is None:
            return None
        user = User.from_db(connection.alias, _USER_ATTNAMES, row)
        return user if self.user_can_authenticate(user) else None
