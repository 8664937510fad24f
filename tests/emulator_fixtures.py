"""Pytest fixtures for the Discord emulator (imported by ``tests/conftest.py``).

* ``discord_emulator_server`` (session): one emulator on a free loopback port per test
  process (per xdist worker).
* ``discord_emulator``: the same server, reset to :func:`default_config` before the test.
* ``daylock_discord``: ``settings.DAYLOCK`` pointed at ``discord_emulator`` (API base,
  application, bot token, guild, admin/moderator role ids, ``public_url=http://testserver``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from daylock.config import Config
from daylock.testing.discord_emulator import RunningEmulator, default_config, start_emulator
from daylock.testing.discord_emulator.config import ADMIN_ROLE_ID, MODERATOR_ROLE_ID


@pytest.fixture(scope="session")
def discord_emulator_server() -> Iterator[RunningEmulator]:
    running = start_emulator(default_config())
    yield running
    running.stop()


@pytest.fixture
def discord_emulator(discord_emulator_server: RunningEmulator) -> RunningEmulator:
    discord_emulator_server.reset(default_config())
    return discord_emulator_server


def config_for_emulator(base: Config, emulator: RunningEmulator) -> Config:
    """``base`` with every Discord setting pointed at ``emulator``."""
    emulated = emulator.config
    return dataclasses.replace(
        base,
        discord_api_base=emulator.base_api_url,
        discord_client_id=emulated.client_id,
        discord_client_secret=emulated.client_secret,
        discord_bot_token=emulated.bot_token,
        discord_guild_id=emulated.guild_id,
        discord_admin_role_ids=frozenset({ADMIN_ROLE_ID}),
        discord_moderator_role_ids=frozenset({MODERATOR_ROLE_ID}),
        public_url="http://testserver",
    )


@pytest.fixture
def daylock_discord(discord_emulator: RunningEmulator, settings: Any) -> RunningEmulator:
    settings.DAYLOCK = config_for_emulator(settings.DAYLOCK, discord_emulator)
    return discord_emulator
