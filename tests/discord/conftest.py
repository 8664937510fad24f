from __future__ import annotations

from collections.abc import Iterator

import pytest

from daylock.discord import identity


@pytest.fixture(autouse=True)
def _forget_channel_guilds() -> Iterator[None]:
    """Each test starts with no cached channel guilds (the emulator is reset per test)."""
    identity.forget_channel_guilds()
    yield
    identity.forget_channel_guilds()
