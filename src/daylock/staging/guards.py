"""The checks every destructive staging command runs *itself*, on top of the process
start guards.

``setup_guarded`` already refused a process whose ``APP_ENV`` differs from its
resources' stamps. These checks repeat the reads at the moment of use because seed,
reset and the test utilities are the commands that can destroy or invent data: they
must hold even if the process was started another way (``call_command`` from a shell,
a test, a future entry point) and even if a stamp changed since start-up.

The rule is double: the environment's *policy* must allow the command, and no
resource it touches may be stamped by a production environment (or by another
environment than this one), whatever ``APP_ENV`` says. Resources are identified by
what the live connection reports (:mod:`daylock.stamps`); the returned states are
what a destructive step later compares with, right before it acts.
"""

from __future__ import annotations

from typing import Literal

from daylock import config, stamps
from daylock.config import Refusal

Capability = Literal["seed_and_reset", "test_utilities"]


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


def _refuse_production_stamp(command: str, where: str, stamp: stamps.Stamp | None) -> None:
    if stamp is not None and stamps.stamp_is_production(stamp.environment):
        raise Refusal(
            command,
            f"{where} is stamped {stamp.environment} (instance {stamp.instance_id})",
            "a production database is never seeded, reset or edited by test tools, "
            "whatever APP_ENV says; fix DATABASE_URL",
        )


def require_database(*, command: str) -> stamps.DatabaseState:
    """The verified state of the database this process reaches, after refusing a
    production-stamped or foreign one (an empty database passes: it is safe to fill)."""
    state = stamps.reach_database(guard=command)
    # Production first, whatever else is wrong and whatever APP_ENV says.
    _refuse_production_stamp(command, state.identity.describe(), state.stamp)
    stamps.judge_reached(state, config.current(), guard=command)
    return state


def require_redis(*, command: str) -> stamps.RedisState | None:
    """The verified state of this environment's Redis DB (None without Redis)."""
    cfg = config.current()
    if not cfg.redis_url:
        return None
    state = stamps.verify_redis(cfg, guard=command, stamp_empty=False)
    assert state is not None
    if state.stamp is not None and stamps.stamp_is_production(state.stamp.environment):
        raise Refusal(
            command,
            f"{state.identity.describe()} is stamped {state.stamp.environment}",
            "a production Redis is never wiped by reset, whatever APP_ENV says; fix REDIS_URL",
        )
    return state


def require_destructive(*, command: str, capability: Capability) -> stamps.DatabaseState:
    """Policy first (no I/O), then the database stamp."""
    require_policy(command=command, capability=capability)
    return require_database(command=command)
