"""The session engine: Django's ``cached_db`` (Redis first, PostgreSQL behind it),
storing rows in :class:`daylock.accounts.models.Session`, which also records the
logged-in user's id.

Every page reads its session from Redis, except one that reads the session row in
its own query (the day page): :meth:`SessionStore.adopt` takes that row's data as
the session, with no read of its own. The row is what ``cached_db`` writes first and
the cache copies, so both give the same session. Verifying a row's signature cost
as much as the rest of the session's handling, so each process remembers the rows it
verified (:func:`_verified`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.base import SessionBase

if TYPE_CHECKING:
    from daylock.accounts.models import Session


def _user_id(data: dict[str, Any]) -> int | None:
    try:
        return int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None


_IMMUTABLE = (str, int, float, bool, type(None))


class _NotRemembered(Exception):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


@functools.lru_cache(maxsize=4096)
def _verified(
    session_data: str, salt: str, secret: str, fallbacks: tuple[str, ...]
) -> tuple[tuple[str, Any], ...]:
    """A row's data, decoded and its signature checked once per process and signing
    key (the key is part of the memo's key). Only data whose values are all
    immutable (a logged-in session: user id, backend, hash) is remembered: each
    request gets its own dict, and nothing it does can change the remembered data.
    Anything else — an empty or unverifiable session, nested values — raises with
    the data to use this once (an exception is not memoised; a forged row is logged
    each time it is presented, as ``decode`` does)."""
    data: dict[str, Any] = SessionStore().decode(session_data)
    if not data or not all(isinstance(value, _IMMUTABLE) for value in data.values()):
        raise _NotRemembered(data)
    return tuple(data.items())


class SessionStore(cached_db.SessionStore):
    @classmethod
    def get_model_class(cls) -> type[Session]:
        from daylock.accounts.models import Session

        return Session

    def create_model_instance(self, data: dict[str, Any]) -> Session:
        row: Session = super().create_model_instance(data)  # type: ignore[assignment]
        row.user_id = _user_id(data)
        return row

    def adopt(self, session_data: str) -> int | None:
        """Take ``session_data`` — this session's row, read by another query with the
        same expiry rule as :meth:`load` (``expire_date`` after now) — as the loaded
        session, unless the session was loaded already. Returns the user id the
        session claims (not yet checked: ``request.user`` checks it). Data that does
        not verify is an empty session, as when :meth:`load` reads it.
        """
        if not hasattr(self, "_session_cache"):
            fallbacks = tuple(settings.SECRET_KEY_FALLBACKS)
            try:
                verified = _verified(session_data, self.key_salt, settings.SECRET_KEY, fallbacks)
                self._session_cache = dict(verified)
            except _NotRemembered as once:
                self._session_cache = once.data
        return _user_id(self._session_cache)


def adopt(session: SessionBase, session_data: str) -> int | None:
    """:meth:`SessionStore.adopt` for a request's session; None, and nothing adopted,
    if the session is not this engine's (then it is read the usual way)."""
    return session.adopt(session_data) if isinstance(session, SessionStore) else None
