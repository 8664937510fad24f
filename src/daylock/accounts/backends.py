"""The authentication backend.

* A banned user is treated like a disabled one, so their existing sessions stop
  authenticating at the next request (no session sweep needed).
* The logged-in user is read on every page view, so :meth:`DaylockBackend.get_user`
  reads them with one prepared statement instead of the ORM's ``get()``, which spent
  three times longer building the query than PostgreSQL spent answering it. The row
  is read fresh on every request (no cache): a ban or a role change applies at once.
"""

from __future__ import annotations

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
_USER_BY_ID = PreparedQuery(
    "daylock_user_by_id",
    f"SELECT {', '.join(field.column for field in _USER_FIELDS)} "  # noqa: S608 - our names
    f"FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s",
)


class DaylockBackend(ModelBackend):
    def user_can_authenticate(self, user: User | AnonymousUser | None) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_banned", False)

    def get_user(self, user_id: Any) -> User | None:
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        rows = _USER_BY_ID.fetchall([pk])
        if not rows:
            return None
        user = User.from_db(connection.alias, _USER_ATTNAMES, rows[0])
        return user if self.user_can_authenticate(user) else None
