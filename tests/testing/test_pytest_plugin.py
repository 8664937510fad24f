"""The test plugin keeps a run inside its own resources, or refuses at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from daylock.testing import pytest_plugin
from tests.conftest import ROOT


@pytest.mark.parametrize("worker", ["gw0", "gw1"])
def test_every_redis_db_a_worker_uses_is_between_8_and_15(
    monkeypatch: pytest.MonkeyPatch, worker: str
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    dbs = [pytest_plugin.redis_db(slot) for slot in range(pytest_plugin.REDIS_DBS_PER_WORKER)]
    assert all(8 <= db <= 15 for db in dbs), dbs
    assert len(set(dbs)) == len(dbs)


def test_workers_never_share_a_redis_db(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[int] = set()
    for index in range(pytest_plugin.MAX_WORKERS):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        dbs = {pytest_plugin.redis_db(slot) for slot in range(4)}
        assert not dbs & seen
        seen |= dbs
    assert seen == set(range(8, 16))


def test_a_third_worker_is_refused_rather_than_given_db_7(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    with pytest.raises(RuntimeError, match="run with -n 2 or fewer"):
        pytest_plugin.redis_db(0)


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "tests/testing/test_pytest_plugin.py", "-q"],
        cwd=ROOT,
        # A run of its own, not one of this run's xdist workers.
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workers", ["3", "4"])
def test_more_workers_than_redis_dbs_allow_are_refused_before_anything_runs(
    workers: str,
) -> None:
    result = _pytest("-n", workers)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "Daylock's tests" in result.stderr and "-n 2" in result.stderr
    assert " passed" not in result.stdout


def test_a_second_run_while_this_one_is_going_refuses_clearly() -> None:
    """This very run holds the lock; a second one on the same resources must say so."""
    result = _pytest("-n", "0")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "another Daylock test run is going on this machine (pid " in result.stderr
    assert "DAYLOCK_TEST_SLOT=" in result.stderr
