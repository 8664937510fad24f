"""Loaded first by pytest (``-p daylock.testing.pytest_plugin``): pins the test
process to its own resources before Django reads its settings.

In-process tests run as ``staging`` — the environment under test — against the real
PostgreSQL (databases named ``daylock_test…``, created and dropped by pytest-django)
and their own Redis DB number. Values are forced, not defaulted: a developer's shell
that exports production settings can never leak into a test run. Only the server
addresses can be moved, with ``DAYLOCK_TEST_PG`` and ``DAYLOCK_TEST_REDIS``.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import pytest

PG = os.environ.get("DAYLOCK_TEST_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("DAYLOCK_TEST_REDIS", "redis://127.0.0.1:6379")
#: Lets several test runs share one PostgreSQL server (each its own test database);
#: give each concurrent run its own DAYLOCK_TEST_REDIS server as well.
SLOT = os.environ.get("DAYLOCK_TEST_SLOT", "").strip()
#: Fake Discord ids standing for production's application, guild and bot in tests.
TEST_PRODUCTION_IDS = "900000000000000001,900000000000000002,900000000000000003"
#: Bot tokens shaped like Discord's: ``<base64 of the bot's id>.<timestamp>.<hmac>``, so
#: the guards can read which bot each is (staging's bot 700000000000000003, production's
#: bot 900000000000000003). Fake: no Discord accepts them.
STAGING_TEST_BOT_TOKEN = "NzAwMDAwMDAwMDAwMDAwMDAz.xxxx.yyyy"  # noqa: S105
PRODUCTION_TEST_BOT_TOKEN = "OTAwMDAwMDAwMDAwMDAwMDAz.xxxx.yyyy"  # noqa: S105


#: Redis DBs 8-15 belong to the tests, four per xdist worker: at most two workers.
REDIS_DBS_PER_WORKER = 4
MAX_WORKERS = 2


def worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def redis_db(slot: int) -> int:
    """Redis DB numbers reserved for tests: 15 downwards, four per xdist worker, never
    below 8 (DBs 0-7 may hold a developer's own data)."""
    if not 0 <= slot < REDIS_DBS_PER_WORKER:
        raise ValueError(f"slot must be 0-{REDIS_DBS_PER_WORKER - 1}")
    index = worker_index()
    if index >= MAX_WORKERS:
        raise RuntimeError(
            f"xdist worker gw{index} has no Redis DBs of its own: the tests use DBs 8-15, "
            f"{REDIS_DBS_PER_WORKER} per worker; run with -n {MAX_WORKERS} or fewer"
        )
    return 15 - REDIS_DBS_PER_WORKER * index - slot


def redis_url(slot: int) -> str:
    return f"{REDIS}/{redis_db(slot)}"


def staging_environ() -> dict[str, str]:
    """A complete, valid staging configuration for tests (database and Redis excluded)."""
    return {
        "APP_ENV": "staging",
        "SECRET_KEY": "test-staging-" + "k3y-" * 16,
        "PUBLIC_URL": "http://testserver",
        "DISCORD_CLIENT_ID": "700000000000000001",
        "DISCORD_CLIENT_SECRET": "staging-test-secret",
        "DISCORD_BOT_TOKEN": STAGING_TEST_BOT_TOKEN,
        "DISCORD_GUILD_ID": "700000000000000002",
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "DISCORD_DELIVERY": "capture",
        "DISCORD_ADMIN_ROLE_IDS": "700000000000000010",
        "DISCORD_MODERATOR_ROLE_IDS": "700000000000000011",
        "PRODUCTION_DISCORD_IDS": TEST_PRODUCTION_IDS,
    }


def production_environ() -> dict[str, str]:
    """A complete, valid production configuration for tests (database and Redis excluded).

    Uses the fake production ids of :data:`TEST_PRODUCTION_IDS`, so a staging process
    given the same ids is refused.
    """
    return {
        "APP_ENV": "production",
        "SECRET_KEY": "test-production-" + "Zq8-" * 16,
        "PUBLIC_URL": "https://daylock.test",
        "DISCORD_CLIENT_ID": "900000000000000001",
        "DISCORD_CLIENT_SECRET": "production-test-secret",
        "DISCORD_BOT_TOKEN": PRODUCTION_TEST_BOT_TOKEN,
        "DISCORD_GUILD_ID": "900000000000000002",
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "DISCORD_DELIVERY": "live",
        "PRODUCTION_DISCORD_IDS": TEST_PRODUCTION_IDS,
    }


_pinned = staging_environ() | {
    "DATABASE_URL": f"{PG}/daylock_test" + (f"_s{SLOT}" if SLOT else ""),
    "REDIS_URL": redis_url(0),
    "DJANGO_SETTINGS_MODULE": "daylock.settings",
}
for _name in (
    "IS_PRODUCTION",
    "DEBUG",
    "DISCORD_ALLOWED_CHANNEL_IDS",
    # libpq would let these redirect the test database (the config guard refuses them).
    "PGDATABASE",
    "PGOPTIONS",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGHOSTADDR",
):
    os.environ.pop(_name, None)
os.environ.update(_pinned)


_run_lock: IO[str] | None = None


def _workers_requested(config: pytest.Config) -> int:
    value = getattr(config.option, "numprocesses", None) or 0
    if isinstance(value, str) and not value.isdigit():
        raise pytest.UsageError(
            f"-n {value}: Daylock's tests need a fixed worker count of at most {MAX_WORKERS} "
            f"(each worker owns {REDIS_DBS_PER_WORKER} of the Redis DBs 8-15); use -n {MAX_WORKERS}"
        )
    return int(value)


def _lock_run() -> None:
    """One test run at a time per set of resources: a second run started while one is
    going refuses at once with this message instead of colliding on test databases
    (``daylock_test_gw0``…), Redis DBs and ports."""
    global _run_lock
    path = Path(tempfile.gettempdir()) / f"daylock-tests{'-' + SLOT if SLOT else ''}.lock"
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise pytest.UsageError(
            f"another Daylock test run is going on this machine ({holder}); wait for it "
            "to finish, or give this run resources of its own: "
            "DAYLOCK_TEST_SLOT=<name> DAYLOCK_TEST_REDIS=redis://127.0.0.1:<another Redis "
            "server's port>"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} in {os.getcwd()} since {time.strftime('%H:%M:%S')}")
    handle.flush()
    _run_lock = handle  # held until this process exits


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller holds the run's lock for its workers
    workers = _workers_requested(config)
    if workers > MAX_WORKERS:
        raise pytest.UsageError(
            f"-n {workers}: Daylock's tests use Redis DBs 8-15 only, "
            f"{REDIS_DBS_PER_WORKER} per worker, so at most -n {MAX_WORKERS}; "
            "nothing was touched"
        )
    _lock_run()


def pytest_sessionstart(session: object) -> None:
    """Start from an empty Redis DB (ours alone), so the stamp guard sees a clean slate."""
    import redis

    client = redis.Redis.from_url(redis_url(0))
    client.flushdb()
    client.close()
