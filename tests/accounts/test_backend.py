"""The session's user is read by one prepared statement: the same user as the ORM
would load, and the same refusals (banned, deactivated, unknown, malformed id)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model

from daylock.accounts.backends import DaylockBackend, prefetched_user
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


def test_a_prefetched_row_is_checked_like_a_read_one_without_a_query(
    django_assert_num_queries: Any,
) -> None:
    user = User.objects.create_user(username="pat")
    banned = User.objects.create_user(username="ban", is_banned=True)
    rows = {
        u.pk: tuple(getattr(u, f.attname) for f in User._meta.concrete_fields)
        for u in (user, banned)
    }
    with django_assert_num_queries(0):
        with prefetched_user(user.pk, rows[user.pk]):
            loaded = DaylockBackend().get_user(user.pk)
        with prefetched_user(banned.pk, rows[banned.pk]):
            assert DaylockBackend().get_user(banned.pk) is None
        with prefetched_user(user.pk, None):  # the page's query found no such user
            assert DaylockBackend().get_user(user.pk) is None
    assert loaded is not None and _fields(loaded) == _fields(user)
    with django_assert_num_queries(1), prefetched_user(banned.pk, rows[banned.pk]):
        assert DaylockBackend().get_user(user.pk) is not None  # another id: read as usual
    with django_assert_num_queries(1):
        assert DaylockBackend().get_user(user.pk) is not None  # outside the block: read
