from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from daylock.config import Refusal
from daylock.guardrails import check_redis_stamp
from daylock.staging import guards
from daylock.staging.reset import wipe_redis
from daylock.stamps import REDIS_STAMP_KEY


def test_reset_deletes_only_this_environments_keys_and_keeps_the_stamp() -> None:
    client = redis.Redis.from_url(settings.DAYLOCK.redis_url)
    client.flushdb()
    check_redis_stamp(settings.DAYLOCK)
    stamp = client.get(REDIS_STAMP_KEY)
    for i in range(2500):  # more than one SCAN/UNLINK batch
        client.set(f"daylock:staging:1:k{i}", b"x")
    cache.set("session-ish", "value")
    client.set("daylock:development:1:other-env", b"keep")
    client.set("unrelated", b"keep")
    deleted = wipe_redis(say=print)
    assert deleted == 2501
    assert cache.get("session-ish") is None
    assert client.get(REDIS_STAMP_KEY) == stamp
    assert client.get("daylock:development:1:other-env") == b"keep"
    assert client.get("unrelated") == b"keep"
    client.flushdb()


def test_a_flushed_stamp_is_written_again() -> None:
    client = redis.Redis.from_url(settings.DAYLOCK.redis_url)
    client.flushdb()
    cache.set("a", 1)
    client.delete(REDIS_STAMP_KEY)
    wipe_redis(say=print)
    assert json.loads(client.get(REDIS_STAMP_KEY) or b"{}")["environment"] == "staging"


def test_a_production_stamped_redis_is_refused() -> None:
    client = redis.Redis.from_url(settings.DAYLOCK.redis_url)
    client.flushdb()
    client.set(REDIS_STAMP_KEY, json.dumps({"environment": "production", "instance_id": "p"}))
    client.set("daylock:staging:1:k", b"x")
    with pytest.raises(Refusal, match="is stamped production"):
        guards.require_redis(command="reset")
    assert client.get("daylock:staging:1:k") == b"x"
    client.flushdb()
