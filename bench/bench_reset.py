"""``daylock reset --yes``: the template fast path and the ``--full`` path.

Each run is the real command as a subprocess (process start, guards, plan, stamp
re-checks, drop/create, stamp renewal, Redis wipe, audit row), on a throw-away staging
database ``daylock_test_bench_reset`` seeded with the default data set (50 users, three
events, progress, drawn prizes), and a throw-away Redis DB (``BENCH_REDIS_URL``, else
``DAYLOCK_BENCH_REDIS``, else the test Redis with DB 9; it must be empty or
staging-stamped, and is flushed before and after).

Baseline, measured in the same run: what any reset must pay at least — a process
start of ``daylock check`` (Python, Django, the guards) plus the primitive the fast
path is built on, done by hand with psycopg (``DROP DATABASE … WITH (FORCE)`` +
``CREATE DATABASE … TEMPLATE`` of the same template). Goal: the fast path costs at
most 1.5 x that baseline (the plan, the identity and stamp re-checks, the template
check and the Redis wipe get half a baseline between them). The full path is reported
against the same baseline (informational: it migrates and seeds).

    python bench/bench_reset.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DATABASE = "daylock_test_bench_reset"
TEMPLATE = DATABASE + "_template"
FAST_GOAL_RATIO = 1.5
_IN_COMMAND = re.compile(r"reset staging \((?:template|full)\) in ([0-9.]+)s")


def _admin(sql_text: str, *names: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{common.PG}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL(sql_text).format(*(sql.Identifier(n) for n in names)))


def _drop_all() -> None:
    for name in (DATABASE, TEMPLATE):
        _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def _timed_command(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall seconds of the whole process, and the reset's own figure from its output."""
    start = time.perf_counter()
    completed = common.run_daylock("reset", "--yes", *args, env=env, timeout=300)
    wall = time.perf_counter() - start
    found = _IN_COMMAND.search(completed.stdout)
    return wall, float(found.group(1)) if found else float("nan")


def run(runs: int = 5) -> list[dict[str, Any]]:
    if os.environ.get("BENCH_REDIS_URL"):
        common.REDIS_URL = os.environ["BENCH_REDIS_URL"]
    _drop_all()
    _admin("CREATE DATABASE {}", DATABASE)
    try:
        with common.throwaway_redis() as redis_url:
            env = common.staging_environ(
                f"{common.PG}/{DATABASE}", redis_url, "http://127.0.0.1:18500"
            )
            common.run_daylock("migrate", "--no-input", env=env, timeout=300)
            build_start = time.perf_counter()
            common.run_daylock("reset", "--yes", env=env, timeout=300)  # builds the template
            build_s = time.perf_counter() - build_start

            fast = [_timed_command(env) for _ in range(runs)]

            def by_hand() -> None:
                _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", DATABASE)
                _admin("CREATE DATABASE {} TEMPLATE {}", DATABASE, TEMPLATE)

            hand_only = common.timed(by_hand, runs)
            start_only = common.timed(
                lambda: common.run_daylock("check", env=env, timeout=120), runs
            )
            baseline = [start + hand for start, hand in zip(start_only, hand_only, strict=True)]
            full = [_timed_command(env, "--full") for _ in range(runs)]
    finally:
        _drop_all()

    hand = (
        "process start of `daylock check` + DROP DATABASE … WITH (FORCE) + "
        "CREATE DATABASE … TEMPLATE by hand (psycopg), same run"
    )
    extra = {
        "process_start_check_median_s": round(common.median(start_only), 4),
        "drop_create_by_hand_median_s": round(common.median(hand_only), 4),
    }
    fast_ratio = common.median([wall for wall, _ in fast]) / common.median(baseline)
    return [
        common.result(
            "reset --yes (template fast path, whole process)",
            [wall for wall, _ in fast],
            hand,
            baseline,
            f"<= {FAST_GOAL_RATIO:g} x baseline",
            fast_ratio <= FAST_GOAL_RATIO,
            in_command_median_s=round(common.median([inner for _, inner in fast]), 4),
            template_build_s=round(build_s, 2),
            **extra,
        ),
        common.result(
            "reset --yes --full (drop, create, migrate, seed; whole process)",
            [wall for wall, _ in full],
            hand,
            baseline,
            "informational (migrates and seeds)",
            None,
            in_command_median_s=round(common.median([inner for _, inner in full]), 4),
            **extra,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.runs), indent=2))


if __name__ == "__main__":
    main()
