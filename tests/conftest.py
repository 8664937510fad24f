from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from daylock.testing import pytest_plugin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    yield
    cache.clear()


class Databases:
    """Creates throw-away PostgreSQL databases named ``daylock_test_…`` and drops them."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self, label: str = "db") -> str:
        name = f"daylock_test_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return f"{pytest_plugin.PG}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
            for name in self.created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture
def databases() -> Iterator[Databases]:
    dbs = Databases()
    yield dbs
    dbs.drop_all()


@pytest.fixture
def redis_dbs() -> Iterator[Callable[[int], str]]:
    """``redis_dbs(slot)`` gives an emptied Redis DB URL reserved for this test run."""
    used: list[str] = []

    def get(slot: int) -> str:
        url = pytest_plugin.redis_url(slot)
        redis.Redis.from_url(url).flushdb()
        used.append(url)
        return url

    yield get
    for url in used:
        redis.Redis.from_url(url).flushdb()


def run_daylock(
    *args: str, env: dict[str, str], timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``daylock`` command in a child process with exactly ``env``."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "daylock", *args],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        cwd=ROOT,
        check=False,
    )


# The Discord emulator fixtures: discord_emulator_server, discord_emulator, daylock_discord.
from tests.emulator_fixtures import (  # noqa: E402
    daylock_discord,  # noqa: F401
    discord_emulator,  # noqa: F401
    discord_emulator_server,  # noqa: F401
)
