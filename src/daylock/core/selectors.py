from __future__ import annotations

from typing import Any

import redis as redis_lib
from django.db import DatabaseError

from daylock import config, stamps


def health_report() -> dict[str, Any]:
    """Reachability and stamps of this environment's resources (no secrets, no URLs),
    read the way the start guards read them (:mod:`daylock.stamps`)."""
    cfg = config.current()
    database: dict[str, Any] = {"reachable": False, "stamped": False, "stamp_matches": False}
    try:
        stamp, _ = stamps.read_database_stamp()
        database["reachable"] = True
        if stamp is not None:
            database["stamped"] = True
            database["stamp_matches"] = stamp.environment == cfg.app_env
    except DatabaseError:
        pass
    redis: dict[str, Any] = {"configured": bool(cfg.redis_url)}
    if cfg.redis_url:
        redis.update(reachable=False, stamped=False, stamp_matches=False)
        client = stamps.redis_client(cfg.redis_url)
        try:
            state = stamps.inspect_redis(client)
            redis["reachable"] = True
            if state.stamp is not None:
                redis["stamped"] = True
                redis["stamp_matches"] = state.stamp.environment == cfg.app_env
        except redis_lib.RedisError:
            pass
        finally:
            client.close()
    ok = database["stamp_matches"] and (not cfg.redis_url or redis["stamp_matches"])
    return {
        "ok": ok,
        "environment": cfg.app_env.value,
        "is_production": cfg.is_production,
        "database": database,
        "redis": redis,
    }
