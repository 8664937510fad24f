"""The authentication backend: a banned user is treated like a disabled one, so their
existing sessions stop authenticating at the next request (no session sweep needed)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser

from daylock.accounts.models import User


class DaylockBackend(ModelBackend):
    def user_can_authenticate(self, user: User | AnonymousUser | None) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_banned", False)
