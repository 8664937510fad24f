from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from daylock.discord import client, identity


def _forget_shared_state() -> None:
    """No client, DM channel, bucket, hold or pause survives from one test to the next:
    the emulator is reset per test, and what one test teaches the shared limits (in
    this run's Redis DB) must not slow or pause the next."""
    client.forget_clients()
    url = settings.DAYLOCK.redis_url
    if url:
        connection = redis.Redis.from_url(url)
        try:
            keys = list(connection.scan_iter(match="daylock:*:discord:*", count=1000))
            if keys:
                connection.delete(*keys)
        finally:
            connection.close()


@pytest.fixture(autouse=True)
def _forget_channel_guilds() -> Iterator[None]:
    """Each test starts with no cached channel guilds (the emulator is reset per test)."""
    identity.forget_channel_guilds()
    _forget_shared_state()
    yield
    identity.forget_channel_guilds()
    _forget_shared_state()
