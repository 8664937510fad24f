"""Session fixtures of the end-to-end run (``make e2e``): a production and a staging
instance on loopback, and Chromium (the system's, never a downloaded one)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.harness import (
    ARTIFACTS,
    Instance,
    build_instance,
    drop_database,
    free_port,
    start_instance,
)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "production_discord: makes production talk to its Discord; runs after the tests "
        "that assert production's Discord has seen only its own identity checks",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is end-to-end (so `make test` never starts servers);
    tests marked ``production_discord`` run last (a stable sort keeps the rest's order)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: item.get_closest_marker("production_discord") is not None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Instances:
    production: Instance
    staging: Instance
    ports: set[int]


@pytest.fixture(scope="session")
def instances(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instances]:
    """Production and staging, each migrated, served (gunicorn) and with its worker."""
    ports: set[int] = set()
    logs = artifacts / "logs"
    built: list[Instance] = []
    try:
        production = build_instance("production", ports, tmp_path_factory.mktemp("prod"), 1)
        built.append(production)
        staging = build_instance("staging", ports, tmp_path_factory.mktemp("staging"), 2)
        built.append(staging)
        for instance in built:
            emulator_port = int(instance.emulator_url.rsplit(":", 1)[1])
            start_instance(instance, logs, emulator_port)
        yield Instances(production, staging, ports)
    finally:
        for instance in built:
            instance.stop()
        for instance in built:
            drop_database(instance.database_name)
            redis.Redis.from_url(instance.redis_url).flushdb()


@pytest.fixture
def free_e2e_port(instances: Instances) -> int:
    return free_port(instances.ports)
