from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from daylock.accounts.models import User


def raw_keys() -> list[str]:
    client = redis.Redis.from_url(settings.DAYLOCK.redis_url)
    return sorted(key.decode() for key in client.keys("*"))


def test_every_cache_key_is_prefixed_with_the_environment() -> None:
    cache.set("probe", 1)
    assert any(key == "daylock:staging:1:probe" for key in raw_keys())


@pytest.mark.django_db
def test_sessions_live_in_redis_under_the_prefix(client: Client) -> None:
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    client.force_login(User.objects.create(username="sessioned"))
    session_keys = [k for k in raw_keys() if "django.contrib.sessions" in k]
    assert session_keys and all(k.startswith("daylock:staging:") for k in session_keys)
