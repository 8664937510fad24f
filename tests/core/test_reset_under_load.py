"""``daylock reset`` under load: while the database is replaced, the web server answers
503 with ``Retry-After`` in the site's frame (never a 500), and 200 again afterwards.

A real gunicorn (``daylock serve``) on a throw-away staging database, client threads
requesting pages the whole time, and ``daylock reset --yes`` in a child process —
once the fast way (template copy), once ``--full`` (drop, create, migrate, seed).

In-process tests pin the rule down case by case, through Django's own handling of an
exception (``handler500`` of this module's URLconf, which is the site's): a database
error on a healthy database stays a 500; a lost connection, a missing database and a
half-migrated one answer 503 — also when the error is raised in a middleware.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.db import OperationalError, ProgrammingError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from psycopg import sql

from daylock import urls as site_urls
from daylock.core import availability, selectors
from daylock.site import views as server_views
from daylock.staging.seed import RUNNING_SLUG
from daylock.stamps import STAMP_TABLE
from daylock.testing import pytest_plugin
from daylock.testing.discord_emulator import RunningEmulator, default_config
from daylock.testing.pytest_plugin import staging_environ
from tests.conftest import ROOT, Databases, run_daylock
from tests.core.test_serve import free_port

HOME = "/"
DAY = f"/events/{RUNNING_SLUG}/day/1/"
EVENTS = "/events/"
HEALTHZ = "/healthz"
PAGES = (HOME, DAY, EVENTS, HEALTHZ)
SESSION_COOKIE = "daylock_staging_session"

#: Prints a session key of a seeded player, logged in (run with `daylock shell -c`).
MAKE_SESSION = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from daylock.accounts.models import User
user = User.objects.filter(
    is_test_account=True, role="player", is_active=True, is_banned=False
).order_by("id").first()
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "daylock.accounts.backends.DaylockBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
print(store.session_key, user.display_name)  # the last line; the header shows the name
"""


@dataclass(frozen=True)
class Seen:
    path: str
    logged_in: bool
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Site:
    base: str
    env: dict[str, str]
    log: Path

    def log_in(self) -> tuple[str, str]:
        """A new logged-in session of a seeded player: (session key, the name the
        header shows)."""
        made = run_daylock("shell", "-c", MAKE_SESSION, env=self.env)
        assert made.returncode == 0, made.stderr
        session_key, username = made.stdout.strip().splitlines()[-1].split(maxsplit=1)
        home = requests.get(self.base + HOME, cookies={SESSION_COOKIE: session_key}, timeout=5)
        assert username in home.text, "the session cookie does not log in"
        return session_key, username

    def errors_logged(self) -> str:
        """The server's ERROR lines (tracebacks included), for a failure's message."""
        return "\n".join(
            line for line in self.log.read_text().splitlines() if '"level": "ERROR"' in line
        )[-6000:]


@pytest.fixture
def site(databases: Databases, redis_dbs: Callable[[int], str], tmp_path: Path) -> Iterator[Site]:
    port = free_port()
    url = databases.create("reset_load")
    # The fast reset builds <name>_template next to the database: drop it too.
    databases.created.append(url.rsplit("/", 1)[1] + "_template")
    env = staging_environ() | {
        "DATABASE_URL": url,
        "REDIS_URL": redis_dbs(1),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for args in (("migrate", "--no-input"), ("seed", "--users", "12")):
        done = run_daylock(*args, env=env, timeout=180)
        assert done.returncode == 0, done.stderr
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "daylock", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=base | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}{HEALTHZ}", timeout=30)
                break
            except requests.ConnectionError:
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        yield Site(f"http://127.0.0.1:{port}", env, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


class Load:
    """Client threads requesting every page in turn until stopped, two anonymous and
    two with a logged-in session cookie."""

    def __init__(self, site: Site, session_key: str) -> None:
        self.site = site
        self.session_key = session_key
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(logged_in,), daemon=True)
            for logged_in in (False, True, False, True)
        ]

    def _run(self, logged_in: bool) -> None:
        client = requests.Session()
        if logged_in:
            client.cookies.set(SESSION_COOKIE, self.session_key)
        try:
            while not self._stop.is_set():
                for path in PAGES:
                    response = client.get(self.site.base + path, timeout=20)
                    with self._lock:
                        self.seen.append(
                            Seen(path, logged_in, response.status_code,
                                 dict(response.headers), response.text)
                        )  # fmt: skip
        except BaseException as exc:  # any failure to get an answer fails the test
            with self._lock:
                self.errors.append(exc)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # a few more rounds after the reset
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def check_reset_under_load(site: Site, *reset_args: str) -> list[Seen]:
    session_key, username = site.log_in()  # each reset wipes the sessions
    with Load(site, session_key) as load:
        time.sleep(0.5)  # load before the reset starts
        reset = run_daylock("reset", "--yes", *reset_args, env=site.env, timeout=300)
    assert reset.returncode == 0, reset.stderr
    assert not load.errors, load.errors
    seen = load.seen
    assert len(seen) > 40, len(seen)
    assert [s for s in seen if s.status >= 500 and s.status != 503] == [], site.errors_logged()
    for s in seen:
        # 404: with --full, the day exists only once the seed has committed.
        if s.status in ({200, 404} if s.path == DAY else {200}):
            continue
        assert s.status == 503, (s.path, s.status, s.body[:300])
        assert s.headers.get("Retry-After") == "5", (s.path, s.headers)
        assert "no-store" in s.headers.get("Cache-Control", ""), (s.path, s.headers)
        if s.path == HEALTHZ:
            assert s.headers["Content-Type"] == "application/json"
        else:
            assert 'data-environment="staging"' in s.body, s.body
            assert "STAGING" in s.body and "Back in a moment" in s.body, s.body
            assert "default-src 'self'" in s.headers.get("Content-Security-Policy", "")
    # Logged-in requests were logged in before the reset (it wipes sessions).
    assert any(s.logged_in and username in s.body for s in seen)
    # And the site answers again at once.
    for page in PAGES:
        assert requests.get(site.base + page, timeout=10).status_code == 200, page
    return seen


def test_reset_under_load_answers_503_never_500(site: Site) -> None:
    fast = check_reset_under_load(site)
    full = check_reset_under_load(site, "--full", "--users", "12")
    # --full takes seconds without a usable database: the window was really hit.
    assert any(s.status == 503 and s.path != HEALTHZ for s in full), [s.status for s in full]
    print(
        f"fast: {len(fast)} requests, {sum(s.status == 503 for s in fast)} were 503; "
        f"full: {len(full)} requests, {sum(s.status == 503 for s in full)} were 503"
    )


# --- in-process: which database errors are a 503 ---------------------------------------


def _bad_query(request: HttpRequest) -> HttpResponse:
    """A bug: a query naming a table that does not exist, on a healthy database. The
    savepoint keeps the test's transaction usable, as autocommit would in production."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM daylock_no_such_table")
    return HttpResponse("unreachable")


def _terminated(request: HttpRequest) -> HttpResponse:
    """The server ends this request's session mid-request (as DROP DATABASE … WITH
    (FORCE) does); the database itself stays healthy."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (row[0],))
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("unreachable")


def _gone_then_back(request: HttpRequest) -> HttpResponse:
    """The database is missing when the request connects and back (re-created from
    the template) by the time the error is handled: a fast reset's usual timing."""
    with database_gone(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("unreachable")


def _not_a_database_error(request: HttpRequest) -> HttpResponse:
    raise ValueError("a plain bug")


urlpatterns = [
    *site_urls.urlpatterns,
    path("_test/bad-query/", _bad_query),
    path("_test/terminated/", _terminated),
    path("_test/gone-then-back/", _gone_then_back),
    path("_test/plain-bug/", _not_a_database_error),
]
#: The site's own handler: these tests check what daylock.urls configures.
handler500 = site_urls.handler500


@pytest.fixture
def failing_client(settings: Any) -> Client:
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


@contextmanager
def database_gone() -> Iterator[None]:
    """Point the default connection at a database that does not exist (as during a
    reset, between DROP and CREATE), then back."""
    original = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = f"daylock_test_gone_{uuid.uuid4().hex[:8]}"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original


def assert_unavailable(response: Any) -> None:
    body = response.content.decode()
    assert response.status_code == 503, body[:500]
    assert response["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]
    assert 'data-environment="staging"' in body and "STAGING" in body
    assert "Back in a moment" in body


@pytest.mark.django_db
def test_a_database_error_on_a_healthy_database_stays_a_500(
    failing_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The 503 is not a blanket mask: a bug meets a usable database (connected,
    stamped, fully migrated), so the probe says so and the answer is Django's 500,
    logged with its traceback as before."""
    assert availability.database_usable()
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = failing_client.get("/_test/bad-query/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Internal Server Error: /_test/bad-query/"
    assert record.exc_info is not None and isinstance(record.exc_info[1], ProgrammingError)


@pytest.mark.django_db
def test_a_plain_bug_is_a_500(failing_client: Client) -> None:
    assert failing_client.get("/_test/plain-bug/").status_code == 500


@pytest.mark.django_db
def test_the_same_error_while_migrations_are_missing_is_a_503(failing_client: Client) -> None:
    """``reset --full`` mid-migrate: the stamp table exists, other tables not yet."""
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="events").delete()  # rolled back after
    assert not availability.database_usable()
    assert_unavailable(failing_client.get("/_test/bad-query/"))


@pytest.mark.django_db
def test_a_database_of_another_environment_is_not_usable() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {STAMP_TABLE} SET environment = 'production'")  # noqa: S608
    assert not availability.database_usable()


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_a_503_though_the_database_is_back(
    failing_client: Client,
) -> None:
    """A fast reset is over in milliseconds: by the time the probe runs the new
    database is there and usable. The lost connection is the evidence."""
    try:
        response = failing_client.get("/_test/terminated/")
    finally:
        connection.close()
    assert availability.database_usable()
    assert_unavailable(response)


@pytest.mark.django_db(transaction=True)
def test_a_database_missing_at_connect_is_a_503_though_it_is_back_at_the_probe(
    failing_client: Client,
) -> None:
    response = failing_client.get("/_test/gone-then-back/")
    assert availability.database_usable()
    assert_unavailable(response)


@pytest.mark.django_db(transaction=True)
def test_a_missing_database_is_a_503_in_views(failing_client: Client) -> None:
    with database_gone():
        assert not availability.database_usable()
        response = failing_client.get("/events/")
    assert_unavailable(response)


@pytest.mark.django_db(transaction=True)
def test_a_database_error_raised_in_a_middleware_is_a_503(
    failing_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting a login writes the OAuth state into a new session, which
    SessionMiddleware saves (cached_db: the database first) after the view: the error
    is raised in the middleware, and Django still hands it to handler500."""
    with database_gone(), caplog.at_level(logging.ERROR, logger="django.request"):
        response = failing_client.post("/auth/login/")
    assert_unavailable(response)
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None
    raised_in = [frame.filename for frame in traceback.extract_tb(record.exc_info[2])]
    assert any(name.endswith("django/contrib/sessions/middleware.py") for name in raised_in)
    assert not any(name.endswith("daylock/accounts/views.py") for name in raised_in[-3:])


def test_the_503_page_renders_without_the_database() -> None:
    """No ``db`` mark: any query while rendering would fail this test."""
    response = server_views.unavailable(RequestFactory().get("/"))
    assert_unavailable(response)
    assert "Log out" not in response.content.decode()


def test_database_errors_are_found_through_their_causes() -> None:
    inner = OperationalError("gone")
    outer = RuntimeError("wrapped")
    outer.__cause__ = inner
    assert availability.database_error_in(outer) is inner
    during = ValueError("raised while handling")
    during.__context__ = outer
    assert availability.database_error_in(during) is inner
    assert availability.database_error_in(ValueError("plain")) is None
    assert availability.database_error_in(None) is None


def test_healthz_503_says_when_to_retry_and_is_not_cached(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "health_report", lambda: {"ok": False})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Retry-After"] == str(availability.RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]


# --- the worker under a reset ------------------------------------------------------------
# tests/discord/test_worker.py shows the worker waiting for a re-created database and
# delivering again; this is the other half of its re-check: a database that comes back
# stamped by another environment stops it.


def test_the_worker_stops_when_its_database_comes_back_stamped_by_another_environment(
    databases: Databases, redis_dbs: Callable[[int], str], discord_emulator: RunningEmulator
) -> None:
    discord_emulator.reset(default_config(bot_token=pytest_plugin.STAGING_TEST_BOT_TOKEN))
    env = staging_environ() | {
        "DATABASE_URL": databases.create("worker_stamp"),
        "REDIS_URL": redis_dbs(1),
        "DISCORD_API_BASE": discord_emulator.base_api_url,
        "DISCORD_GUILD_ID": discord_emulator.config.guild_id,
    }
    assert run_daylock("migrate", "--no-input", env=env, timeout=180).returncode == 0
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    foreign = f"{name}_prod"
    databases.created.append(foreign)
    admin = f"{pytest_plugin.PG}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(foreign), sql.Identifier(name)
            )
        )
    with psycopg.connect(f"{pytest_plugin.PG}/{foreign}", autocommit=True) as conn:
        conn.execute(f"UPDATE {STAMP_TABLE} SET environment = 'production'")  # noqa: S608
    worker = subprocess.Popen(
        [sys.executable, "-m", "daylock", "worker"],
        env={"PATH": os.environ["PATH"]} | env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert worker.stdout is not None
        started: list[str] = []
        while not any("scheduled" in line for line in started):  # the start's sweep
            started.append(worker.stdout.readline())
            assert started[-1] and len(started) < 10, started
        time.sleep(2)  # let procrastinate open its connections
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(foreign)
                )
            )
        _, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.communicate(timeout=30)
    assert worker.returncode == 2, err
    assert "database connection lost; reconnecting" in err
    refusal = [line for line in err.splitlines() if line.startswith("daylock: refused:")]
    assert len(refusal) == 1 and "database-stamp" in refusal[0], err
    assert "production" in refusal[0], refusal
