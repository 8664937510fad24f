"""The authentication backend loads the session's user as the ORM does and refuses
banned, deactivated, unknown and malformed ids."""

from __future__ import annotations

import pytest
from django.db.models import Model

from daylock.accounts.backends import DaylockBackend
from daylock.accounts.models import Role, User

pytestmark = pytest.mark.django_db


def _fields(user: Model) -> dict[str, object]:
    return {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}


def test_loads_exactly_what_the_orm_loads() -> None:
    user = User.objects.create_user(
        username="pat", first_name="Pat", email="pat@example.org", role=Role.MODERATOR
    )
    loaded = DaylockBackend().get_user(user.pk)
    assert loaded is not None
    assert _fields(loaded) == _fields(User.objects.get(pk=user.pk))
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert DaylockBackend().get_user(str(user.pk)) is not None  # as stored in the session


@pytest.mark.parametrize("change", [{"is_banned": True}, {"is_active": False}])
def test_banned_and_deactivated_users_are_not_logged_in(change: dict[str, bool]) -> None:
    user = User.objects.create_user(username="pat")
    User.objects.filter(pk=user.pk).update(**change)
    assert DaylockBackend().get_user(user.pk) is None


@pytest.mark.parametrize("user_id", [987654321, "not-a-number", None])
def test_unknown_or_malformed_ids_are_nobody(user_id: object) -> None:
    assert DaylockBackend().get_user(user_id) is None
