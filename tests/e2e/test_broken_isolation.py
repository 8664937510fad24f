"""Deliberately broken isolation fails at start: a staging server (and worker) whose
DATABASE_URL is production's exits 2 before serving a single request."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import Instances
from tests.e2e.harness import daylock_argv, production_fingerprint, spawn

pytestmark = pytest.mark.e2e


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_staging_pointed_at_production_database_refuses_to_start(
    instances: Instances, artifacts: Path, free_e2e_port: int, command: str
) -> None:
    production, staging = instances.production, instances.staging
    before = production_fingerprint(production)
    env = staging.env | {"DATABASE_URL": production.database_url}
    args = ["serve", "--bind", f"127.0.0.1:{free_e2e_port}"] if command == "serve" else [command]
    process = spawn(f"broken-staging-{command}", daylock_argv(*args), env, artifacts / "logs")
    try:
        returncode = process.popen.wait(timeout=60)
    finally:
        process.stop()
    output = process.log.read_text()
    assert returncode == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines == [lines[0]], output  # one line, nothing served, no traceback
    assert lines[0].startswith("daylock: refused: database-stamp: "), output
    assert "stamped production" in lines[0]
    assert "APP_ENV=staging" in lines[0]
    assert not port_open(free_e2e_port)
    after = production_fingerprint(production)
    assert after == before
