"""Sessions are Django's ``cached_db``: rows in ``django_session``, read through their
copy in Redis; expired or forged sessions log nobody in, and sessions stored in
``accounts_session`` before migration 0004 keep their users logged in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string

from daylock.accounts.models import User
from daylock.events.models import Day
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = "/events/sessions/day/1/"


def _session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _forget_cached_copy(client: Client) -> None:
    """Drop the session's Redis copy: what the row says is all there is."""
    caches["default"].delete(SessionStore(_session_key(client)).cache_key)


@pytest.fixture
def day() -> Day:
    event = EventFactory(slug="sessions", day_count=1)
    return event.days.get(number=1)


def test_a_login_is_a_row_and_logout_removes_it(client: Client) -> None:
    client.get("/")  # an anonymous visit stores no session
    assert not Session.objects.exists()
    client.force_login(UserFactory(username="row-owner"))
    key = _session_key(client)
    assert Session.objects.get(session_key=key).get_decoded()["_auth_user_id"]
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert not Session.objects.filter(session_key=key).exists()


@pytest.mark.django_db(transaction=True)
def test_a_page_reads_its_session_from_redis_not_the_database(client: Client, day: Day) -> None:
    client.force_login(UserFactory(username="cached"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(DAY)
    assert response.status_code == 200 and "cached" in response.content.decode()
    assert not any("django_session" in q["sql"] for q in queries.captured_queries)
    _forget_cached_copy(client)
    with CaptureQueriesContext(connection) as queries:
        assert "cached" in client.get(DAY).content.decode()
    assert any("django_session" in q["sql"] for q in queries.captured_queries)


def test_an_expired_row_logs_nobody_in(client: Client, day: Day) -> None:
    client.force_login(UserFactory(username="expired"))
    assert "expired" in client.get(DAY).content.decode()
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    _forget_cached_copy(client)
    body = client.get(DAY).content.decode()
    assert "expired" not in body and "to answer." in body


def test_session_data_that_does_not_verify_is_an_empty_session(
    client: Client, day: Day, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(UserFactory(username="forged"))
    row = Session.objects.get(session_key=_session_key(client))
    forged = row.session_data[:-4] + ("AAAA" if not row.session_data.endswith("AAAA") else "BBBB")
    Session.objects.filter(pk=row.pk).update(session_data=forged)
    _forget_cached_copy(client)
    with caplog.at_level("WARNING", logger="django.security.SuspiciousSession"):
        body = client.get(DAY).content.decode()
    assert "forged" not in body and "to answer." in body
    assert "Session data corrupted" in [r.getMessage() for r in caplog.records]


@pytest.mark.django_db(transaction=True)
def test_sessions_from_before_the_migration_keep_their_users_logged_in() -> None:
    """0004 copies unexpired accounts_session rows into django_session, replacing an
    older copy of the same key that 0003 left there."""
    user = User.objects.create(username="kept-logged-in")
    signed = SessionStore().encode
    now = timezone.now()
    live, gone, newer = (get_random_string(32, VALID_KEY_CHARS) for _ in range(3))
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0003_copy_sessions")])  # rows in accounts_session
    try:
        old = executor.loader.project_state([("accounts", "0003_copy_sessions")]).apps
        rows = old.get_model("accounts", "Session")
        for key, expiry in ((live, timedelta(hours=1)), (gone, -timedelta(seconds=10))):
            rows.objects.create(
                session_key=key,
                session_data=signed({"_auth_user_id": str(user.pk)}),
                expire_date=now + expiry,
                user_id=user.pk,
            )
        rows.objects.create(
            session_key=newer,
            session_data=signed({"_auth_user_id": str(user.pk), "seen": "newer"}),
            expire_date=now + timedelta(hours=1),
            user_id=user.pk,
        )
        Session.objects.create(
            session_key=newer,
            session_data=signed({"seen": "older"}),
            expire_date=now + timedelta(hours=1),
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert set(Session.objects.values_list("session_key", flat=True)) == {live, newer}
    assert SessionStore(live).load() == {"_auth_user_id": str(user.pk)}
    assert SessionStore(newer).load() == {"_auth_user_id": str(user.pk), "seen": "newer"}
