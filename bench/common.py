"""Shared helpers for the benchmarks run by ``make bench`` (``python bench/run.py``).

A benchmark module ``bench/bench_<name>.py`` exposes ``run(runs=5) -> list[dict]``;
each dict is one row of the results table (build it with :func:`result`):

``name``, ``median_s``, ``runs``, ``baseline`` (what it is compared with),
``baseline_median_s``, ``ratio`` (median_s / baseline_median_s unless the row says
otherwise), ``goal`` (human text) and ``met`` (bool or None), plus any extra keys.

Benchmarks never touch a configured environment: they run as ``staging`` against a
throw-away PostgreSQL database (``daylock_bench_…``, dropped afterwards) and a Redis
DB that must be empty or staging-stamped (flushed afterwards). Server addresses come
from ``DAYLOCK_BENCH_PG`` / ``DAYLOCK_BENCH_REDIS`` (defaults: the test servers'
``DAYLOCK_TEST_PG`` / ``DAYLOCK_TEST_REDIS``, then the local defaults).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
LOGS = ROOT / "test-artifacts" / "bench"
PG = os.environ.get(
    "DAYLOCK_BENCH_PG", os.environ.get("DAYLOCK_TEST_PG", "postgres://postgres@127.0.0.1:5432")
)
#: A whole Redis URL including the DB number used by benchmarks.
REDIS_URL = os.environ.get(
    "DAYLOCK_BENCH_REDIS",
    os.environ.get("DAYLOCK_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/") + "/9",
)
#: Ports benchmarks may bind (the e2e run uses 18600-18649, the matrix 18650-18689);
#: ``DAYLOCK_BENCH_PORTS=FIRST-LAST`` picks another range (parallel runs on one host).
_ports = os.environ.get("DAYLOCK_BENCH_PORTS", "18690-18699").partition("-")
PORTS = range(int(_ports[0]), int(_ports[2] or _ports[0]) + 1)
#: Fake production ids, so the staging configuration passes its identity guard.
PRODUCTION_IDS = "900000000000000001,900000000000000002"


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(function: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``function``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def result(
    name: str,
    times: list[float],
    baseline: str,
    baseline_times: list[float],
    goal: str,
    met: bool | None,
    **extra: Any,
) -> dict[str, Any]:
    m, b = median(times), median(baseline_times)
    return {
        "name": name,
        "median_s": round(m, 6),
        "runs": len(times),
        "baseline": baseline,
        "baseline_median_s": round(b, 6),
        "ratio": round(m / b, 3) if b else None,
        "goal": goal,
        "met": met,
        **extra,
    }


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def base_environ() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {key: os.environ[key] for key in keep if key in os.environ}


def staging_environ(database_url: str, redis_url: str, public_url: str) -> dict[str, str]:
    """A complete staging configuration of its own (nothing shared with anything)."""
    return base_environ() | {
        "APP_ENV": "staging",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PUBLIC_URL": public_url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DISCORD_CLIENT_ID": "800000000000000001",
        "DISCORD_CLIENT_SECRET": "bench-secret",
        # Shaped like Discord's: its first segment is the base64 of bot 800000000000000003.
        "DISCORD_BOT_TOKEN": "ODAwMDAwMDAwMDAwMDAwMDAz.bench.token",
        "DISCORD_GUILD_ID": "800000000000000002",
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "DISCORD_DELIVERY": "capture",
        "PRODUCTION_DISCORD_IDS": PRODUCTION_IDS,
    }


def _admin_connection() -> Any:
    import psycopg

    return psycopg.connect(f"{PG}/postgres", autocommit=True)


@contextlib.contextmanager
def throwaway_database(label: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; yields its URL."""
    from psycopg import sql

    name = f"daylock_bench_{label}_{uuid.uuid4().hex[:8]}"
    with _admin_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{PG}/{name}"
    finally:
        with _admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """The benchmark Redis DB, emptied before and after. Refused when it holds data
    that is not a staging environment's (it might be someone's real cache)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        raw = client.get("daylock:environment-stamp")
        if client.dbsize() and (raw is None or json.loads(raw).get("environment") != "staging"):
            raise RuntimeError(
                f"{REDIS_URL} holds data that is not a staging benchmark's; set "
                "DAYLOCK_BENCH_REDIS to an empty Redis DB"
            )
        client.flushdb()
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def run_daylock(
    *args: str, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The real ``daylock`` command; raises with its stderr when it fails."""
    completed = subprocess.run(
        [sys.executable, "-m", "daylock", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"daylock {' '.join(args)} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    return completed


@dataclass
class Server:
    popen: subprocess.Popen[bytes]
    log: Path
    url: str

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


@contextlib.contextmanager
def serve(
    env: Mapping[str, str], port: int, *, workers: int = 2, name: str = "web"
) -> Iterator[Server]:
    """``daylock serve`` (gunicorn, sync workers) in its own process group until /healthz
    answers 200; stopped afterwards."""
    import requests

    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daylock",
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
            ],
            env=dict(env),
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(popen, log, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"daylock serve exited {popen.returncode}:\n{log.read_text()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"daylock serve not healthy after 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()
