"""The session engine (daylock.accounts.sessions): cached_db whose rows name their
user, and the day page that reads its session row in its own query — never another
user's page, never an expired or forged session."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from daylock.accounts.models import Session, User
from daylock.accounts.sessions import SessionStore
from daylock.events.models import Day, Tier
from tests.events.factories import EventFactory, ProgressFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = "/events/sessions/day/1/"


def _session_key(client: Client) -> str:
    return client.cookies["daylock_staging_session"].value


def _forget_cached_copy(client: Client) -> None:
    """Drop the session's Redis copy: what the row says is all there is."""
    caches["default"].delete(SessionStore(_session_key(client)).cache_key)


@pytest.fixture
def day() -> Day:
    event = EventFactory(slug="sessions", day_count=1)
    return event.days.get(number=1)


def test_rows_name_the_logged_in_user_and_go_with_logout(client: Client) -> None:
    user = UserFactory(username="row-owner")
    client.get("/")  # an anonymous visit stores no session
    assert not Session.objects.exists()
    client.force_login(user)
    assert Session.objects.get(session_key=_session_key(client)).user_id == user.pk
    other = UserFactory(username="second-login")
    client.force_login(other)  # a new key for the new user (Django cycles it)
    assert Session.objects.get(session_key=_session_key(client)).user_id == other.pk
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert not Session.objects.filter(user_id__in=[user.pk, other.pk]).exists()


def test_an_anonymous_session_row_names_nobody() -> None:
    store = SessionStore()
    store["next"] = "/events/"
    store.save()
    assert Session.objects.get(session_key=store.session_key).user_id is None


@pytest.mark.django_db(transaction=True)
def test_the_day_page_reads_its_session_in_its_own_query_and_nothing_from_redis(
    client: Client, day: Day
) -> None:
    client.force_login(UserFactory(username="one-query"))
    client.get(DAY)  # warm: prepared statements, memoised page
    cache = caches["default"]
    with (
        mock.patch.object(cache, "get", side_effect=AssertionError("a Redis read")),
        mock.patch.object(cache, "get_many", side_effect=AssertionError("a Redis read")),
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(DAY)
    assert response.status_code == 200
    assert "one-query" in response.content.decode()
    assert len(queries.captured_queries) == 1, queries.captured_queries
    assert "day_page_session" in queries.captured_queries[0]["sql"]


def test_a_row_naming_another_user_never_shows_their_page(client: Client, day: Day) -> None:
    """The row's user id is only a hint for the query: the session's own signed data
    decides who is logged in, and a row that disagrees is not trusted."""
    mallory, victim = UserFactory(username="mallory"), UserFactory(username="victim")
    ProgressFactory(user=victim, day=day, tier=Tier.VETERAN)
    client.force_login(mallory)
    Session.objects.filter(session_key=_session_key(client)).update(user_id=victim.pk)
    body = client.get(DAY).content.decode()
    assert "mallory" in body and "victim" not in body
    assert "badge ok" not in body  # the victim's solved veteran challenge is not shown
    assert body.count("Your answer") == 2  # mallory's own page: both still open


def test_an_expired_row_logs_nobody_in(client: Client, day: Day) -> None:
    user = UserFactory(username="expired")
    client.force_login(user)
    assert "expired" in client.get(DAY).content.decode()
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    _forget_cached_copy(client)
    body = client.get(DAY).content.decode()
    assert "expired" not in body and "to answer." in body


def test_session_data_that_does_not_verify_is_an_empty_session(client: Client, day: Day) -> None:
    user = UserFactory(username="forged")
    client.force_login(user)
    row = Session.objects.get(session_key=_session_key(client))
    forged = row.session_data[:-4] + ("AAAA" if not row.session_data.endswith("AAAA") else "BBBB")
    Session.objects.filter(pk=row.pk).update(session_data=forged)
    _forget_cached_copy(client)
    body = client.get(DAY).content.decode()
    assert "forged" not in body and "to answer." in body


@pytest.mark.django_db(transaction=True)
def test_sessions_from_before_the_migration_keep_their_users_logged_in() -> None:
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    user = User.objects.create(username="kept-logged-in")
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])  # before the session rows had users
    try:
        live, gone = DjangoStore(), DjangoStore()
        live["_auth_user_id"] = str(user.pk)
        live.save()
        gone["_auth_user_id"] = str(user.pk)
        gone.set_expiry(-10)
        gone.save()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    copied = {s.session_key: s for s in Session.objects.all()}
    assert set(copied) == {live.session_key}
    assert copied[live.session_key].user_id == user.pk
    assert SessionStore(live.session_key).load()["_auth_user_id"] == str(user.pk)


def _signed(data: dict[str, object]) -> str:
    return SessionStore().encode(data)


def test_a_remembered_row_gives_each_request_its_own_data() -> None:
    text = _signed({"_auth_user_id": "7", "_auth_user_hash": "h"})
    first, second = SessionStore("a" * 32), SessionStore("b" * 32)
    assert first.adopt(text) == 7
    first["_auth_user_id"] = "8"  # a request changing its session
    first["extra"] = 1
    assert second.adopt(text) == 7
    assert dict(second.items()) == {"_auth_user_id": "7", "_auth_user_hash": "h"}


def test_nested_values_are_decoded_afresh_each_time() -> None:
    text = _signed({"_auth_user_id": "7", "oauth": {"state": "s"}})
    first, second = SessionStore("a" * 32), SessionStore("b" * 32)
    first.adopt(text)
    first["oauth"]["state"] = "changed in place"
    second.adopt(text)
    assert second["oauth"] == {"state": "s"}


def test_a_forged_row_is_refused_and_logged_every_time(caplog: pytest.LogCaptureFixture) -> None:
    forged = _signed({"_auth_user_id": "7"})[:-2] + "xx"
    with caplog.at_level("WARNING", logger="django.security.SuspiciousSession"):
        assert SessionStore("a" * 32).adopt(forged) is None
        assert SessionStore("b" * 32).adopt(forged) is None
    assert [r.getMessage() for r in caplog.records].count("Session data corrupted") == 2


def test_a_new_signing_key_is_not_fooled_by_what_the_old_one_verified() -> None:
    text = _signed({"_auth_user_id": "7"})
    assert SessionStore("a" * 32).adopt(text) == 7
    with override_settings(SECRET_KEY="another-key-" + "x" * 50):
        assert SessionStore("b" * 32).adopt(text) is None
