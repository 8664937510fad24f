from __future__ import annotations

import json
from typing import Any

import redis as redis_lib
from django.core.cache import cache
from django.db import DatabaseError

from daylock import config
from daylock.guardrails import REDIS_STAMP_KEY, read_database_stamp


def health_report() -> dict[str, Any]:
    """Reachability and stamps of this environment's resources (no secrets, no URLs)."""
    cfg = config.current()
    database: dict[str, Any] = {"reachable": False, "stamped": False, "stamp_matches": False}
    try:
        stamp, _ = read_database_stamp()
        database["reachable"] = True
        if stamp is not None:
            database["stamped"] = True
            database["stamp_matches"] = stamp.environment == cfg.app_env
    except DatabaseError:
        pass
    redis: dict[str, Any] = {"configured": bool(cfg.redis_url)}
    if cfg.redis_url:
        redis.update(reachable=False, stamped=False, stamp_matches=False)
        try:
            client = cache._cache.get_client(write=False)  # type: ignore[attr-defined]
            raw = client.get(REDIS_STAMP_KEY)
            redis["reachable"] = True
            if raw is not None:
                redis["stamped"] = True
                redis["stamp_matches"] = json.loads(raw).get("environment") == cfg.app_env
        except (redis_lib.RedisError, ValueError, AttributeError):
            pass
    ok = database["stamp_matches"] and (not cfg.redis_url or redis["stamp_matches"])
    return {
        "ok": ok,
        "environment": cfg.app_env.value,
        "is_production": cfg.is_production,
        "database": database,
        "redis": redis,
    }
