"""Loaded first by pytest (``-p daylock.testing.pytest_plugin``): pins the test
process to its own resources before Django reads its settings.

In-process tests run as ``staging`` — the environment under test — against the real
PostgreSQL (databases named ``daylock_test…``, created and dropped by pytest-django)
and their own Redis DB number. Values are forced, not defaulted: a developer's shell
that exports production settings can never leak into a test run. Only the server
addresses can be moved, with ``DAYLOCK_TEST_PG`` and ``DAYLOCK_TEST_REDIS``.
"""

from __future__ import annotations

import os

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


def worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def redis_db(slot: int) -> int:
    """Redis DB numbers reserved for tests: 15 downwards, four per xdist worker."""
    if not 0 <= slot < 4:
        raise ValueError("slot must be 0-3")
    return 15 - 4 * worker_index() - slot


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
):
    os.environ.pop(_name, None)
os.environ.update(_pinned)


def pytest_sessionstart(session: object) -> None:
    """Start from an empty Redis DB (ours alone), so the stamp guard sees a clean slate."""
    import redis

    client = redis.Redis.from_url(redis_url(0))
    client.flushdb()
    client.close()
