"""``daylock seed --users 100000``: test users with Discord accounts, progress on two
events in every completion state, feedback, prizes and two real draws.

Each run is the real command as a subprocess (process start and guards included) on a
fresh copy of a migrated, empty staging database (``daylock_test_bench_seed``, copied
from ``daylock_test_bench_seed_base`` with ``CREATE DATABASE … TEMPLATE``, untimed).

Baseline: ``psql`` ``\\copy`` of the same rows (the seeded users, Discord accounts,
events, days, challenges, progress and feedback, exported from the last seeded copy)
into another fresh copy, in one transaction (``psql -1``), with the schema's
constraints and indexes in place as a plain load would have them, measured in the
same run. Goal: the whole seed command (process start, guards, every table, the
completion table and two real draws) takes at most 1.0 x that baseline.

Runs are capped at 3 (a run is several seconds; the whole ``make bench`` must stay
under 10 minutes). The Redis DB is ``BENCH_REDIS_URL``, else ``DAYLOCK_BENCH_REDIS``,
else the test Redis with DB 9 (must be empty or staging-stamped; flushed).

    python bench/bench_seed.py [--runs N] [--users N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

USERS = 100_000
GOAL_RATIO = 1.0
MAX_RUNS = 3
DATABASE = "daylock_test_bench_seed"
BASE = DATABASE + "_base"
#: What the baseline loads (in this order; foreign keys are checked at commit).
TABLES = (
    "accounts_user",
    "accounts_discordaccount",
    "events_event",
    "events_day",
    "events_challenge",
    "events_progress",
    "events_feedback",
)
_IN_COMMAND = re.compile(r"draws in ([0-9.]+)s")


def _admin(sql_text: str, *names: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{common.PG}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL(sql_text).format(*(sql.Identifier(n) for n in names)))


def _fresh_copy() -> None:
    _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", DATABASE)
    _admin("CREATE DATABASE {} TEMPLATE {}", DATABASE, BASE)


def _export(url: str, folder: Path) -> list[tuple[str, int]]:
    import psycopg
    from psycopg import sql

    counts = []
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        for table in TABLES:
            target = folder / f"{table}.copy"
            with (
                target.open("wb") as handle,
                cursor.copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as copy,
            ):
                for block in copy:
                    handle.write(block)
            row = cursor.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            counts.append((table, int(row[0]) if row else 0))
    return counts


def run(runs: int = 5, users: int = USERS) -> list[dict[str, Any]]:
    if os.environ.get("BENCH_REDIS_URL"):
        common.REDIS_URL = os.environ["BENCH_REDIS_URL"]
    runs = max(1, min(runs, MAX_RUNS))
    url = f"{common.PG}/{DATABASE}"
    for name in (DATABASE, BASE):
        _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    _admin("CREATE DATABASE {}", BASE)
    try:
        with common.throwaway_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
            env = common.staging_environ(f"{common.PG}/{BASE}", redis_url, "http://127.0.0.1:18500")
            common.run_daylock("migrate", "--no-input", env=env, timeout=300)
            env["DATABASE_URL"] = url
            seeded: list[float] = []
            inner: list[float] = []
            for _ in range(runs):
                _fresh_copy()
                start = time.perf_counter()
                out = common.run_daylock("seed", "--users", str(users), env=env, timeout=600)
                seeded.append(time.perf_counter() - start)
                found = _IN_COMMAND.search(out.stdout)
                inner.append(float(found.group(1)) if found else float("nan"))
            folder = Path(tmp)
            counts = _export(url, folder)
            script = folder / "load.sql"
            script.write_text(
                "".join(f"\\copy {t} FROM '{folder / (t + '.copy')}'\n" for t in TABLES)
            )

            def by_psql() -> None:
                subprocess.run(
                    ["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(script), url],
                    check=True,
                    capture_output=True,
                )

            baseline: list[float] = []
            for _ in range(runs):
                _fresh_copy()
                baseline += common.timed(by_psql, 1)
    finally:
        for name in (DATABASE, BASE):
            _admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    rows = dict(counts)
    return [
        common.result(
            f"seed --users {users:,} (whole process)",
            seeded,
            "psql \\copy of the same rows in one transaction (constraints in place)",
            baseline,
            f"<= {GOAL_RATIO:g} x baseline",
            common.median(seeded) <= GOAL_RATIO * common.median(baseline),
            in_command_median_s=round(common.median(inner), 3),
            rows=rows,
            total_rows=sum(rows.values()),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=USERS)
    args = parser.parse_args()
    print(json.dumps(run(args.runs, args.users), indent=2))


if __name__ == "__main__":
    main()
