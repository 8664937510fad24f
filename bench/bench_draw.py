"""A verifiable draw among 1,000,000 eligible entrants, end to end from the database.

Timed per run (median of ``runs``), on a fresh prize each time:

* **close entries** (``draw_close_entries``): the real eligibility query (completion of
  every day, not banned, Discord account in the guild, staging overrides) streamed to
  CPython, which builds the sorted list's canonical encoding while the query runs; its
  hash; the encoding frozen as one ``DrawEntrantList`` row, in one transaction (nothing
  derived from the seed is stored);
* **run the draw** (``draw_run``): every entrant ranked by ``sha256(seed:id)`` from the
  stored list (part in CPython, part in PostgreSQL at the same time), seed revealed,
  the first ``k`` written and announced through the outbox.

Baseline: the naive, unverifiable draw — the same eligibility query with
``ORDER BY random() LIMIT k``, measured in the same run. Goal: close + run take at most
1.5 x that baseline.

Two data sets, both through the real services and the real eligibility selector:

* **real eligibility**: 1,000,000 users who solved the (one-day) event with a Discord
  account in the guild, plus 50,000 banned users who solved it too (excluded); their
  completion rows are built untimed from the progress, as the seed builds them;
* **precomputed eligibility**: a second event nobody played, the same 1,000,000 users
  forced in by staging eligibility overrides (the selector's override branch).

Each row also reports the eligibility query alone (streamed as closing entries runs it,
nothing done with the ids) and close + run minus that. Built with ``INSERT … SELECT
generate_series`` in a throw-away staging database (migrated with ``daylock migrate``),
dropped at the end. Also reported: the run's ranking from the stored encoding (what
the run and every reroll do) against the plain definition over the decoded ids, and
``draw verify``'s recomputation.

    python bench/bench_draw.py [--runs N] [--entrants N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

ENTRANTS = 1_000_000
INELIGIBLE = 50_000
WINNERS = 100
GOAL_RATIO = 1.5
RESULT_MARK = "BENCH_DRAW_RESULT "


def run(runs: int = 5, entrants: int = ENTRANTS) -> list[dict[str, Any]]:
    with (
        common.throwaway_database("draw") as database_url,
        common.throwaway_redis() as redis_url,
    ):
        env = common.staging_environ(database_url, redis_url, "http://127.0.0.1:18400")
        common.run_daylock("migrate", "--no-input", env=env, timeout=600)
        child_code = (
            f"import sys; sys.path.insert(0, {str(common.BENCH_DIR)!r}); "
            "import bench_draw; bench_draw.child()"
        )
        completed = common.run_daylock(
            "shell",
            "-c",
            child_code,
            env=env | {"BENCH_DRAW_RUNS": str(runs), "BENCH_DRAW_ENTRANTS": str(entrants)},
            timeout=1200,
        )
    line = next(x for x in completed.stdout.splitlines()[::-1] if x.startswith(RESULT_MARK))
    data = json.loads(line[len(RESULT_MARK) :])
    rows = [
        _draw_row(
            data["real"],
            f"draw: close entries + run, {entrants:,} entrants",
            f"{entrants:,} eligible users with real progress and Discord accounts "
            f"+ {INELIGIBLE:,} banned (excluded); k={WINNERS}",
            data["build_s"],
        ),
        _draw_row(
            data["precomputed"],
            f"draw: close entries + run, {entrants:,} entrants, precomputed eligibility",
            f"{entrants:,} users forced eligible by staging eligibility overrides "
            f"(no progress); k={WINNERS}",
            data["build_s"],
        ),
        common.result(
            f"draw: rank {entrants:,} from the stored entrants.txt (the run's ranking: "
            "CPython and PostgreSQL sha256 at once)",
            data["encoded_rank"],
            "read + decode the ids, then draw.winners (the plain definition)",
            data["plain_rank"],
            "faster than the plain definition",
            common.median(data["encoded_rank"]) < common.median(data["plain_rank"]),
        ),
        common.result(
            f"draw: verify {entrants:,} (recompute in CPython from the stored list)",
            data["verify"],
            "close entries + run (real eligibility)",
            data["real"]["total"],
            "informational",
            None,
        ),
    ]
    return rows


def _draw_row(times: dict[str, list[float]], name: str, dataset: str, build_s: float) -> Any:
    draw_part = [t - e for t, e in zip(times["total"], times["eligibility"], strict=True)]
    return common.result(
        name,
        times["total"],
        f"the same eligibility query ORDER BY random() LIMIT {WINNERS} (naive, unverifiable)",
        times["baseline"],
        f"<= {GOAL_RATIO:g} x baseline",
        common.median(times["total"]) <= GOAL_RATIO * common.median(times["baseline"]),
        dataset=dataset,
        close_median_s=round(common.median(times["close"]), 4),
        run_median_s=round(common.median(times["run"]), 4),
        eligibility_query_median_s=round(common.median(times["eligibility"]), 4),
        without_eligibility_query_median_s=round(common.median(draw_part), 4),
        build_s=round(build_s, 1),
        runs_s=[round(t, 4) for t in times["total"]],
    )


# --- inside the staging process (``daylock shell -c``) ---------------------------------


def _build(entrants: int) -> tuple[Any, Any]:
    """Users, Discord accounts, progress and the completion table built from it (as the
    seed does), server-side; returns the two events.

    ``bench-draw``: everyone solved the one day (real eligibility data).
    ``bench-draw-precomputed``: nobody solved anything; the same users are forced in by
    staging eligibility overrides (a precomputed eligibility set).
    """
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from daylock import config
    from daylock.accounts.models import GuildSync
    from daylock.events.models import Day, Event
    from daylock.events.services import completions_add_missing

    # Membership as fresh as after the worker's sync: closing entries refuses otherwise.
    now = timezone.now()
    GuildSync.objects.create(
        guild_id=config.current().discord_guild_id, trigger="bench", started_at=now, finished_at=now
    )
    with transaction.atomic(), connection.cursor() as cur:
        events = []
        for slug in ("bench-draw", "bench-draw-precomputed"):
            events.append(
                Event.objects.create(
                    slug=slug,
                    name=slug,
                    starts_on=dt.date(2024, 1, 1),
                    day_count=1,
                    published=True,
                )
            )
        day = Day.objects.create(event=events[0], number=1, title="The only day")
        Day.objects.create(event=events[1], number=1, title="The only day")
        cur.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined, role, is_banned, "
            "is_test_account) SELECT '!', false, 'bench' || g, '', '', '', false, true, "
            "now(), 'player', g > %s, true FROM generate_series(1, %s) AS g",
            [entrants, entrants + INELIGIBLE],
        )
        cur.execute(
            "INSERT INTO accounts_discordaccount (user_id, discord_id, username, "
            "global_name, avatar, in_guild, guild_role_ids, updated_at) "
            "SELECT id, (800000000000000000 + id)::text, username, '', '', true, '[]', now() "
            "FROM accounts_user"
        )
        cur.execute(
            "INSERT INTO events_progress (user_id, day_id, tier, solved_at) "
            "SELECT id, %s, 'normal', now() FROM accounts_user",
            [day.pk],
        )
        # The completion table, as the seed builds it (one INSERT … SELECT … GROUP BY).
        completions_add_missing()
        cur.execute(
            "INSERT INTO events_eligibilityoverride (user_id, event_id, eligible, reason, "
            "created_at) SELECT id, %s, true, 'bench', now() FROM accounts_user "
            "WHERE NOT is_banned",
            [events[1].pk],
        )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return events[0], events[1]


def _time_draws(event: Any, runs: int, entrants: int, label: str) -> dict[str, list[float]]:
    from django.db import connection, transaction

    from daylock.events.models import Tier
    from daylock.events.selectors import eligible_user_ids
    from daylock.prizes import selectors, services
    from daylock.prizes.models import DrawWinner

    times: dict[str, list[float]] = {
        "eligibility": [],
        "close": [],
        "run": [],
        "total": [],
        "baseline": [],
    }

    def eligible() -> Any:
        return eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)

    for i in range(runs):
        prize = services.prize_create(
            event=event, name=f"{label} {i}", fulfilment="manual", quantity=WINNERS
        )
        t0 = time.perf_counter()
        commitment = services.draw_close_entries(prize=prize, actor=None)
        t1 = time.perf_counter()
        draw = services.draw_run(prize=prize, actor=None, confirm=True)
        t2 = time.perf_counter()
        assert commitment.entrant_count == entrants, commitment
        assert DrawWinner.objects.filter(draw=draw).count() == WINNERS
        times["close"].append(t1 - t0)
        times["run"].append(t2 - t1)
        times["total"].append(t2 - t0)

        t0 = time.perf_counter()
        with transaction.atomic():
            batches = selectors.eligible_entrant_batches(prize=prize)
            assert sum(map(len, batches)) == entrants
        times["eligibility"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        # Wrapped: staging's eligibility query is a UNION ALL, which takes no ORDER BY
        # random() of its own.
        sql, params = eligible().order_by().query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT id FROM ({sql}) AS eligible ORDER BY random() LIMIT %s",  # noqa: S608
                [*params, WINNERS],
            )
            naive = cur.fetchall()
        times["baseline"].append(time.perf_counter() - t0)
        assert len(naive) == WINNERS
        print(
            f"{label} run {i + 1}: close {times['close'][-1]:.3f} s, "
            f"run {times['run'][-1]:.3f} s, "
            f"eligibility query {times['eligibility'][-1]:.3f} s, "
            f"naive draw {times['baseline'][-1]:.3f} s",
            file=sys.stderr,
        )
    return times


def child() -> None:
    from daylock.prizes import draw as algorithm
    from daylock.prizes import selectors
    from daylock.prizes.models import Draw

    runs = int(os.environ["BENCH_DRAW_RUNS"])
    entrants = int(os.environ["BENCH_DRAW_ENTRANTS"])
    started = time.perf_counter()
    real, precomputed = _build(entrants)
    data: dict[str, Any] = {"build_s": time.perf_counter() - started}
    data["real"] = _time_draws(real, runs, entrants, "real")
    data["precomputed"] = _time_draws(precomputed, runs, entrants, "precomputed")

    draw = Draw.objects.filter(status="drawn").latest("id")
    data["encoded_rank"], data["plain_rank"], data["verify"] = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        from_encoding = selectors.first_ranks(draw=draw, k=WINNERS)
        t1 = time.perf_counter()
        plain = algorithm.winners(draw.seed, selectors.entrant_ids(draw), WINNERS)
        t2 = time.perf_counter()
        assert from_encoding == plain, "the run's ranking and the definition differ"
        data["encoded_rank"].append(t1 - t0)
        data["plain_rank"].append(t2 - t1)
    for _ in range(max(1, runs // 2)):
        t0 = time.perf_counter()
        verification = selectors.draw_verify(draw=draw)
        data["verify"].append(time.perf_counter() - t0)
        assert verification.ok, verification.problems
    print(RESULT_MARK + json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--entrants", type=int, default=ENTRANTS)
    args = parser.parse_args()
    for row in run(args.runs, args.entrants):
        met = {True: "met", False: "NOT met", None: "-"}[row["met"]]
        print(
            f"{row['name']}: median {row['median_s']:.3f} s over {row['runs']} runs; "
            f"baseline ({row['baseline']}) {row['baseline_median_s']:.3f} s; "
            f"ratio {row['ratio']}; goal {row['goal']}: {met}"
        )
        extras = (
            "dataset",
            "close_median_s",
            "run_median_s",
            "eligibility_query_median_s",
            "without_eligibility_query_median_s",
            "build_s",
            "runs_s",
        )
        for key in extras:
            if key in row:
                print(f"    {key}: {row[key]}")


if __name__ == "__main__":
    main()
