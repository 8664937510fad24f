"""The checks every destructive staging command runs *itself*, on top of the process
start guards.

``setup_guarded`` already refused a process whose ``APP_ENV`` differs from its
resources' stamps. These checks repeat the stamp reads at the moment of use because
seed, reset and the test utilities are the commands that can destroy or invent data:
they must hold even if the process was started another way (``call_command`` from a
shell, a test, a future entry point) and even if a stamp changed since start-up.

The rule is double: the environment's *policy* must allow the command, and no
resource it touches may be stamped by a production environment (or by another
environment than this one), whatever ``APP_ENV`` says.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal

from daylock import config
from daylock.config import POLICIES, Environment, Refusal
from daylock.guardrails import (
    REDIS_STAMP_KEY,
    Stamp,
    describe_database_url,
    describe_redis_url,
    read_database_stamp,
)

Capability = Literal["seed_and_reset", "test_utilities"]


def _stamp_is_production(environment: str) -> bool:
    """Unknown stamp values count as production: fail closed."""
    try:
        return POLICIES[Environment(environment)].is_production
    except ValueError:
        return True


def require_policy(*, command: str, capability: Capability) -> None:
    """Refuse when this environment's policy does not allow ``capability``."""
    cfg = config.current()
    allowed = getattr(cfg.policy, capability)
    if not allowed:
        what = "seed and reset" if capability == "seed_and_reset" else "the test utilities"
        raise Refusal(
            command,
            f"{what} are disabled in {cfg.app_env} (policy {capability}=false)",
            "run this against a staging or development environment with its own "
            "database; production data is never seeded, reset or edited by test tools",
        )


def require_database(*, command: str) -> Stamp | None:
    """The database's stamp, after refusing production-stamped or foreign databases.

    Returns None only for an empty database (no tables at all), which is safe to fill.
    """
    cfg = config.current()
    where = describe_database_url(cfg.database_url)
    stamp, table_count = read_database_stamp()
    if stamp is None:
        if table_count == 0:
            return None
        raise Refusal(
            command,
            f"{where} holds {table_count} tables but no environment stamp",
            "refusing to touch a database that cannot prove it belongs to "
            f"{cfg.app_env}; point DATABASE_URL at {cfg.app_env}'s own database",
        )
    if _stamp_is_production(stamp.environment):
        raise Refusal(
            command,
            f"{where} is stamped {stamp.environment} (instance {stamp.instance_id})",
            "a production database is never seeded, reset or edited by test tools, "
            "whatever APP_ENV says; fix DATABASE_URL",
        )
    if stamp.environment != cfg.app_env:
        raise Refusal(
            command,
            f"{where} is stamped {stamp.environment} (instance {stamp.instance_id}) "
            f"but this process is APP_ENV={cfg.app_env}",
            f"point DATABASE_URL at {cfg.app_env}'s own database",
        )
    return stamp


@dataclass(frozen=True)
class RedisStamp:
    environment: str
    instance_id: str


def read_redis_stamp(url: str) -> tuple[RedisStamp | None, int]:
    """The Redis DB's stamp (or None) and how many keys it holds."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    try:
        raw = client.get(REDIS_STAMP_KEY)
        size = int(client.dbsize())
    finally:
        client.close()
    if raw is None:
        return None, size
    try:
        found = json.loads(raw)
        return RedisStamp(str(found["environment"]), str(found.get("instance_id", "?"))), size
    except (ValueError, KeyError, TypeError):
        return RedisStamp("unreadable", "?"), size


def require_redis(*, command: str) -> RedisStamp | None:
    """Refuse a Redis DB stamped production or by another environment."""
    cfg = config.current()
    if not cfg.redis_url:
        return None
    where = describe_redis_url(cfg.redis_url)
    import redis

    try:
        stamp, size = read_redis_stamp(cfg.redis_url)
    except redis.RedisError as exc:
        raise Refusal(
            command, f"cannot reach Redis ({where}): {exc}", "check REDIS_URL and Redis"
        ) from None
    if stamp is None:
        if size == 0:
            return None
        raise Refusal(
            command,
            f"{where} holds {size} keys but no environment stamp",
            f"point REDIS_URL at {cfg.app_env}'s own Redis DB",
        )
    if _stamp_is_production(stamp.environment):
        raise Refusal(
            command,
            f"{where} is stamped {stamp.environment}",
            "a production Redis is never wiped by reset, whatever APP_ENV says; fix REDIS_URL",
        )
    if stamp.environment != cfg.app_env:
        raise Refusal(
            command,
            f"{where} is stamped {stamp.environment} but this process is APP_ENV={cfg.app_env}",
            f"point REDIS_URL at {cfg.app_env}'s own Redis DB",
        )
    return stamp


def read_database_stamp_or_none() -> Stamp | None:
    return read_database_stamp()[0]


def require_destructive(*, command: str, capability: Capability) -> Stamp | None:
    """Policy first (no I/O), then the database stamp."""
    require_policy(command=command, capability=capability)
    return require_database(command=command)


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
