"""The Redis cache backend reuses its redis-py client and otherwise is Django's."""

from __future__ import annotations

from django.core.cache import cache, caches

from daylock.core.cache import RedisCache


def test_the_configured_cache_reuses_one_client() -> None:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    inner = backend._cache  # type: ignore[attr-defined]
    client = inner.get_client("a")
    assert inner.get_client("b") is client
    assert inner.get_client("c", write=True) is client  # one server: one pool


def test_it_is_djangos_redis_cache_otherwise() -> None:
    cache.set("k", {"v": 1}, timeout=30)
    assert cache.get("k") == {"v": 1}
    assert cache.add("k", 2) is False
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b", "missing"]) == {"a": 1, "b": 2}
    assert cache.incr("a") == 2
    cache.delete("k")
    assert cache.get("k", "gone") == "gone"
