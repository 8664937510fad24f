"""The authentication backend: Django's ``ModelBackend``, except that a banned user is
treated like a disabled one, so their existing sessions stop authenticating at the next
request (no session sweep needed). The user's row is read on every request (Django's
``get_user``): a ban or a role change applies at once. Their Discord account comes in
the same query: every page's header shows their Discord name and avatar."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from daylock.accounts.models import User


class DaylockBackend(ModelBackend):
    def user_can_authenticate(self, user: User | AnonymousUser | None) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_banned", False)

    def get_user(self, user_id: Any) -> User | None:
        """Nobody for an id that is not one (Django's own ``get_user`` would raise)."""
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        user = User._default_manager.select_related("discord").filter(pk=pk).first()
        return user if user is not None and self.user_can_authenticate(user) else None
