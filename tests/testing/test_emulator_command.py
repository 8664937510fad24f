"""``daylock emulator``: serves with this environment's application settings; refused
in production (it is a test utility)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import requests

from daylock.testing import pytest_plugin
from tests.conftest import ROOT, run_daylock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_emulator_command_serves_with_the_environment_settings() -> None:
    port = free_port()
    env = pytest_plugin.staging_environ() | {
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/unused",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "PATH": os.environ["PATH"],
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "daylock", "emulator", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/api/v10" in line, process.stderr.read()  # type: ignore[union-attr]
        config = requests.get(f"http://127.0.0.1:{port}/_emulator/config", timeout=5).json()
        assert config["client_id"] == env["DISCORD_CLIENT_ID"]
        assert config["guild_id"] == env["DISCORD_GUILD_ID"]
        assert config["redirect_uris"] == [env["PUBLIC_URL"] + "/auth/discord/callback/"]
        assert config["client_secret"] == "***"
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_emulator_command_refused_in_production() -> None:
    env = pytest_plugin.production_environ() | {
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/unused",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    result = run_daylock("emulator", "--port", str(free_port()), env=env, timeout=30)
    assert result.returncode != 0
    assert "test utility" in result.stderr
    assert "not available in production" in result.stderr


def test_emulator_command_reports_a_bad_config_file(tmp_path: object) -> None:
    env = pytest_plugin.staging_environ() | {
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/unused",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    result = run_daylock("emulator", "--config", "/nonexistent/emulator.json", env=env, timeout=30)
    assert result.returncode != 0
    assert "cannot read emulator configuration /nonexistent/emulator.json" in result.stderr
