"""`daylock serve`: gunicorn starts only after the guards, and serves the banner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from daylock.testing.pytest_plugin import staging_environ
from tests.conftest import ROOT, Databases, run_daylock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_guards_then_serves_staging(
    databases: Databases, redis_dbs: Callable[[int], str]
) -> None:
    port = free_port()
    env = staging_environ() | {
        "DATABASE_URL": databases.create("serve"),
        "REDIS_URL": redis_dbs(1),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    assert run_daylock("migrate", "--no-input", env=env, timeout=180).returncode == 0
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    server = subprocess.Popen(
        [sys.executable, "-m", "daylock", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=base | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["environment"] == "staging"
        home = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert "STAGING" in home.text
        css = requests.get(f"http://127.0.0.1:{port}/static/daylock/daylock.css", timeout=5)
        assert css.status_code == 200 and "env-banner" in css.text
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)


def test_serve_refuses_before_gunicorn_starts(redis_dbs: Callable[[int], str]) -> None:
    env = staging_environ() | {
        "DATABASE_URL": "sqlite:////tmp/daylock-not-allowed.sqlite3",
        "REDIS_URL": redis_dbs(1),
    }
    result = run_daylock("serve", "--bind", f"127.0.0.1:{free_port()}", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("daylock: refused: config: DATABASE_URL points at SQLite")


def test_the_wsgi_module_freezes_what_the_start_created(
    databases: Databases, redis_dbs: Callable[[int], str]
) -> None:
    """Loading the application leaves the start's objects (Django, the URLconf, the
    views) in the collector's permanent generation, out of every later collection."""
    env = staging_environ() | {
        "DATABASE_URL": databases.create("freeze"),
        "REDIS_URL": redis_dbs(1),
        "PUBLIC_URL": "http://127.0.0.1:18999",
    }
    assert run_daylock("migrate", "--no-input", env=env, timeout=180).returncode == 0
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    code = (
        "import gc, sys; import daylock.wsgi; "
        "print(gc.get_freeze_count(), 'daylock.events.views' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=base | env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    frozen, views_loaded = done.stdout.split()
    assert int(frozen) > 10_000
    assert views_loaded == "True"
