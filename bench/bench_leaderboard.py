"""The leaderboard at scale: 100,000 players and 1,400,000 progress rows, the top-100
page against the day page in the same run, with the same client settings as
``bench_http`` (``daylock serve``, 2 sync workers; ``wrk -t2 -c32 -d10s --latency``
with ``http_players.lua`` giving each request the cookies of the next of 2,000
logged-in players — never one shared session). Helpers are ``bench_http``'s.

Data: ``daylock seed --users 100000`` (its three events, about 830k progress rows),
then a bench event of 14 open days whose progress is added with ``COPY`` until the
whole table holds at least 1,400,000 rows (about 570k on the bench event: its
leaderboard is the largest), and the event's standings by the seed's own bulk path
(:func:`daylock.events.leaderboard.standings_add_missing`). A third of the players
show their name, one in twenty is hidden (2 % are banned by the seed). The 2,000
measured players are drawn at random from those with a star on the bench event (no
banned ones: they cannot log in), so their own ranks spread over the whole board.

Rows (medians of ``runs`` runs, at most 3; each run measures every row once, in turn):

- **leaderboard page** (``/events/<slug>/leaderboard/``: top 100 and the viewer's own
  rank) against the **day page** of the same event (day 1), same players, same server.
  Goal: >= 0.5 x its req/s (issue 16).
- **leaderboard JSON** (``leaderboard.json``, what bots poll) against the day page
  (informational).
- **snapshot build** (what a process pays, at most every few seconds while players
  solve, to rank 100k players): :func:`daylock.events.leaderboard._build`, against
  its own read of the event's rows without the ranking (informational).

    python bench/bench_leaderboard.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_http
import common

USERS = 100_000
PROGRESS_ROWS = 1_400_000
SLUG = "bench-leaderboard"
DAYS = 14
PLAYERS = 2000
GOAL_RATIO = 0.5
LEADERBOARD_PATH = f"/events/{SLUG}/leaderboard/"
JSON_PATH = f"/events/{SLUG}/leaderboard.json"
DAY_PATH = f"/events/{SLUG}/day/1/"

#: Run inside ``daylock shell -c``: the bench event, its progress by COPY up to
#: {target} rows in all, its standings, visibility choices; prints counts as JSON.
DATA = """
import json, math, random
from datetime import timedelta
from django.db import connection, transaction
from daylock import clock
from daylock.accounts.models import User
from daylock.events.leaderboard import standings_add_missing
from daylock.events.models import Challenge, Day, Event, LeaderboardEntry, Progress, Tier
from daylock.staging.bulk import constraints_rebuilt_after, insert_rows

rng = random.Random(16)
today = clock.now().date()
event = Event.objects.create(slug={slug!r}, name="Bench leaderboard", time_zone="UTC",
                             starts_on=today - timedelta(days={days} + 1), day_count={days},
                             published=True)
days = []
for number in range(1, {days} + 1):
    day = Day.objects.create(event=event, number=number, title=f"Bench day {{number}}")
    for tier in Tier:
        Challenge.objects.create(day=day, tier=tier, prompt="What is 6 * 7?", answer="42")
    days.append((day.pk, day.unlocks_at))
players = list(User.objects.filter(role="player").values_list("pk", flat=True))
existing = Progress.objects.count()
needed = max(0, {target} - existing)
# Days 1..k solved, k uniform in 0..2m, each day normal and 30 % also veteran.
mean_days = min({days} / 2, needed * 1.01 / (1.3 * len(players)))
top_k = min({days}, round(2 * mean_days))

def rows():
    for user_id in players:
        for day_id, opens in days[: rng.randint(0, top_k)]:
            at = opens + timedelta(seconds=int(rng.expovariate(1 / 7200)))
            yield (user_id, day_id, "normal", at)
            if rng.random() < 0.3:
                yield (user_id, day_id, "veteran", at + timedelta(seconds=rng.randint(60, 5400)))

with transaction.atomic():
    with constraints_rebuilt_after([Progress, LeaderboardEntry]):
        added = insert_rows(Progress, ("user_id", "day_id", "tier", "solved_at"), rows(),
                            fill=clock.now())
        standings_add_missing()
User.objects.filter(pk__in=[p for p in players if rng.random() < 1 / 3]).update(
    leaderboard_visibility="name")
User.objects.filter(pk__in=[p for p in players if rng.random() < 1 / 20]).update(
    leaderboard_visibility="hidden")
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
entries = LeaderboardEntry.objects.filter(event=event, stars__gt=0)
print(json.dumps({{
    "progress_rows": Progress.objects.count(), "event_rows": added, "seeded_rows": existing,
    "players": User.objects.count(), "event_players": entries.count(),
    "listed": entries.filter(user__is_banned=False).exclude(
        user__leaderboard_visibility="hidden").count(),
}}))
"""

#: Run inside ``daylock shell -c``: real sessions for {count} players with a star on the
#: bench event (not banned), drawn at random, written to {path} as "name session csrf"
#: (the name the header shows: their Discord name, which may contain spaces).
SESSIONS = """
import random
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.core.cache import caches
from django.utils.crypto import get_random_string
from daylock.accounts.models import User
from daylock.events.models import LeaderboardEntry

ids = list(LeaderboardEntry.objects.filter(event__slug={slug!r}, stars__gt=0,
           user__is_banned=False).values_list("user_id", flat=True))
chosen = random.Random(7).sample(ids, {count})
engine = import_module(settings.SESSION_ENGINE).SessionStore
rows, cached, lines = [], {{}}, []
for user in User.objects.filter(pk__in=chosen).select_related("discord").order_by("?"):
    data = {{SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
             HASH_SESSION_KEY: user.get_session_auth_hash()}}
    store = engine(get_random_string(32, VALID_KEY_CHARS))
    rows.append(store.create_model_instance(data))
    cached[store.cache_key] = data
    lines.append(f"{{user.display_name}} {{store.session_key}} {{get_random_string(32)}}\\n")
engine.get_model_class().objects.bulk_create(rows, batch_size=2000)
caches[settings.SESSION_CACHE_ALIAS].set_many(cached, timeout=settings.SESSION_COOKIE_AGE)
with open({path!r}, "w") as handle:
    handle.writelines(lines)
"""

#: Run inside ``daylock shell -c``: the snapshot build and the plain read of the same
#: rows, {runs} times each; prints both lists of seconds as JSON.
BUILD = """
import json, time
from django.db import connection
from daylock.events import leaderboard
from daylock.events.models import Event

event = Event.objects.get(slug={slug!r})
build, read = [], []
for _ in range({runs}):
    start = time.perf_counter()
    snapshot = leaderboard._build(event.pk, "bench")
    build.append(time.perf_counter() - start)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(leaderboard._sql(leaderboard._ENTRIES_SQL), [event.pk])
        cursor.fetchall()
    read.append(time.perf_counter() - start)
print(json.dumps({{"build": build, "read": read, "keys": len(snapshot.keys)}}))
"""


def _last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def _prime(url: str, players_file: Path, paths: list[str]) -> None:
    """A few requests one at a time before wrk's warm-up: each worker's first page
    (imports, templates, its snapshot) must not time out 32 waiting connections."""
    import requests

    name, session, csrf = players_file.read_text().splitlines()[0].rsplit(" ", 2)
    cookies = {bench_http.SESSION_COOKIE: session, bench_http.CSRF_COOKIE: csrf}
    for _ in range(4):
        for path in paths:
            response = requests.get(url + path, cookies=cookies, timeout=60)
            if response.status_code != 200 or (path != JSON_PATH and name not in response.text):
                raise RuntimeError(f"{path} answered {response.status_code} for {name}")


def run(runs: int = 5) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    runs = max(1, min(runs, 3))  # each measurement lasts 10 s; keep `make bench` short
    port = common.free_port()
    common.LOGS.mkdir(parents=True, exist_ok=True)
    players_file = common.LOGS / f"leaderboard-players-{port}.txt"
    with common.throwaway_database("board") as database_url, common.throwaway_redis() as redis:
        env = common.staging_environ(database_url, redis, f"http://127.0.0.1:{port}")
        env |= {"DJANGO_SETTINGS_MODULE": "http_settings", "PYTHONPATH": str(common.BENCH_DIR)}
        common.run_daylock("migrate", "--no-input", env=env)
        started = time.perf_counter()
        common.run_daylock("seed", "--users", str(USERS), env=env, timeout=900)
        seed_s = time.perf_counter() - started
        script = DATA.format(slug=SLUG, days=DAYS, target=PROGRESS_ROWS)
        data = _last_json(common.run_daylock("shell", "-c", script, env=env, timeout=900).stdout)
        print(f"   seed {seed_s:.0f} s; data {data}", flush=True)
        if data["progress_rows"] < PROGRESS_ROWS or data["players"] < USERS:
            raise RuntimeError(f"the data set is smaller than the goal's: {data}")
        sessions = SESSIONS.format(slug=SLUG, count=PLAYERS, path=str(players_file))
        common.run_daylock("shell", "-c", sessions, env=env, timeout=300)
        built = _last_json(
            common.run_daylock("shell", "-c", BUILD.format(slug=SLUG, runs=runs), env=env).stdout
        )
        players: dict[str, object] = {
            "players": players_file,
            "threads": bench_http.WRK_THREADS,
            "session_cookie": bench_http.SESSION_COOKIE,
            "csrf_cookie": bench_http.CSRF_COOKIE,
            "first": 0,
            "count": PLAYERS,
            "mode": "page",
        }
        mine = '<span class="who">{name}<'
        scripts = {
            "day": players | {"get": DAY_PATH, "expect": mine},
            "board": players | {"get": LEADERBOARD_PATH, "expect": mine},
            "json": players | {"get": JSON_PATH, "expect": '"entries":['},
        }
        measured: dict[str, list[dict[str, float]]] = {name: [] for name in scripts}
        with common.serve(env, port, workers=2, name="bench-leaderboard") as server:
            _prime(server.url, players_file, [DAY_PATH, LEADERBOARD_PATH, JSON_PATH])
            for script_args in scripts.values():  # warm-up: imports, connections, snapshots
                bench_http.wrk(server.url + "/", script_args, bench_http.WARMUP)
            for _ in range(runs):
                for name, script_args in scripts.items():
                    measured[name].append(bench_http.wrk(server.url + "/", script_args))
    players_file.unlink(missing_ok=True)
    scale = (
        f"{data['players']:,} users, {data['progress_rows']:,} progress rows, "
        f"{data['event_players']:,} players on the board"
    )
    day_page = f"logged-in day page of the same event, same {PLAYERS:,} players, same server"
    page = bench_http._row(
        f"leaderboard: top-100 page + own rank, {PLAYERS:,} players ({scale})",
        measured["board"],
        day_page,
        measured["day"],
        per="rps",
        goal=f">= {GOAL_RATIO} x baseline req/s",
        goal_ratio=None,
        goal_p99_ms=None,
    )
    page["met"] = page["ratio"] >= GOAL_RATIO
    page |= {"seed_s": round(seed_s, 1), **{f"data_{k}": v for k, v in data.items()}}
    json_row = bench_http._row(
        f"leaderboard: JSON for bots, top 100 with days ({scale})",
        measured["json"],
        day_page,
        measured["day"],
        per="rps",
        goal="informational",
        goal_ratio=None,
        goal_p99_ms=None,
    )
    build_row = common.result(
        f"leaderboard: snapshot build, {built['keys']:,} listed players",
        built["build"],
        "its read of the event's rows alone (same query, no ranking)",
        built["read"],
        goal="informational: paid per process at most every few seconds while players solve",
        met=None,
    )
    rows = [page, json_row, build_row]
    for row in rows:
        print(f"   {row['name']}: ratio {row['ratio']} ({row['goal']})", flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    print(json.dumps(run(parser.parse_args().runs), indent=2))
