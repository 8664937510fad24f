"""HTTP benchmarks with traffic shaped like players: ``daylock serve`` (gunicorn, 2 sync
workers) on loopback, ``wrk -t2 -c32 -d10s --latency`` with a Lua script
(``http_players.lua``) that gives every request the cookies of the next of thousands
of logged-in players — never one shared session.

Rows (medians of ``runs`` runs, at most 3; each run measures every row once, in turn):

- **day page**: GETs of an open day's page, round robin over 2,000 players, against
  the *bare logged-in view* (``/bench/whoami``: 20 bytes after reading the session and
  ``request.user`` the usual Django way). Goal: >= 0.70 x its req/s, p99 < 40 ms.
- **bare logged-in view** against a view that returns 20 bytes and nothing else
  (informational: what the session and the user cost here).
- **unlock storm**: each player, once per run (a fresh slice of players every run):
  GET the day page, POST a wrong answer (the page again, with the answer in its field
  and the error next to it), GET the page, POST the right answer, GET the page it
  redirects to (with the messages cookie) — against the same mix on bare
  logged-in views (GET ``/bench/whoami``, POST ``/bench/insert``: one INSERT).
  Goal: >= 0.60 x its players/s, p99 < 100 ms.

The Lua script checks every answer (status, redirect target, whose page it is, the
message shown after each answer) and the run fails if one is not what the sequence
expects (a 403 from CSRF, a 429 from the rate limit, an anonymous page…); afterwards
the database must hold exactly one wrong answer per storm player who answered.

The server is a throw-away staging instance (its own database and Redis DB) with the
seed and the demo event. Players are created in one ``daylock shell -c`` script: users
with Discord accounts and real Django sessions (rows and their cached copies, written
in bulk through the configured session engine), plus a CSRF cookie each, as a browser
holds after its first page (the CSRF secret doubles as the form token, which Django
accepts).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

EVENT = "daylock-demo"
DAY_NUMBER = 2
DAY_PATH = f"/events/{EVENT}/day/{DAY_NUMBER}/"
ANSWER_PATH = f"{DAY_PATH}answer/normal/"
PLAIN_PATH = "/bench/plain"
WHOAMI_PATH = "/bench/whoami"
INSERT_PATH = "/bench/insert"
DURATION = "10s"
WARMUP = "2s"
WRK_THREADS = 2
PAGE_GOAL_RATIO, PAGE_GOAL_P99_MS = 0.70, 40.0
STORM_GOAL_RATIO, STORM_GOAL_P99_MS = 0.60, 100.0
SESSION_COOKIE = "daylock_staging_session"
CSRF_COOKIE = "daylock_staging_csrftoken"
#: Players of the page rows (and of the bare storm mix, which keeps no state per player).
PAGE_PLAYERS = 2000
#: Fresh players per storm run (warm-up included); a run that uses them all fails.
STORM_SLICE = 4000
#: What the day page shows after the wrong answer (next to its field) and the right one
#: (messages framework, after the redirect).
WRONG_SHOWS = "Not quite"
RIGHT_SHOWS = f"Correct! Day {DAY_NUMBER} is solved"
LUA = common.BENCH_DIR / "http_players.lua"

#: Run inside ``daylock shell -c``: the players, written to PLAYERS_FILE as lines
#: "name session_key csrf_secret"; prints the day's id and its normal answer as JSON.
PLAYERS = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.core.cache import caches
from django.utils.crypto import get_random_string
from daylock.accounts.models import DiscordAccount, User
from daylock.events.models import Challenge

engine = import_module(settings.SESSION_ENGINE).SessionStore
names = [f"bench-p{{i:05d}}" for i in range({page})] + [f"bench-s{{i:05d}}" for i in range({storm})]
users = User.objects.bulk_create(
    [User(username=name, first_name="Bench", password=make_password(None)) for name in names],
    batch_size=2000,
)
DiscordAccount.objects.bulk_create(
    [
        DiscordAccount(user=user, discord_id=str(800_000_000_000_000_000 + user.pk),
                       username=user.username, in_guild=True)
        for user in users
    ],
    batch_size=2000,
)
rows, cached, lines = [], {{}}, []
for user in users:
    data = {{
        SESSION_KEY: str(user.pk),
        BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }}
    store = engine(get_random_string(32, VALID_KEY_CHARS))
    rows.append(store.create_model_instance(data))
    cached[store.cache_key] = data
    lines.append(f"{{user.username}} {{store.session_key}} {{get_random_string(32)}}\\n")
engine.get_model_class().objects.bulk_create(rows, batch_size=2000)
caches[settings.SESSION_CACHE_ALIAS].set_many(cached, timeout=settings.SESSION_COOKIE_AGE)
with open({path!r}, "w") as handle:
    handle.writelines(lines)
challenge = Challenge.objects.get(day__event__slug={event!r}, day__number={day}, tier="normal")
print(json.dumps({{"day_id": challenge.day_id, "answer": challenge.answer}}))
"""

#: Run inside ``daylock shell -c`` after the storm: per storm player, how many wrong
#: answers and solves the database holds.
STORM_CHECK = """
import json
from django.db.models import Count
from daylock.events.models import Progress, WrongAnswer
wrong = WrongAnswer.objects.filter(user__username__startswith="bench-s", day_id={day_id})
per_player = list(wrong.values("user_id").annotate(n=Count("id")).values_list("n", flat=True))
solved = Progress.objects.filter(user__username__startswith="bench-s", day_id={day_id}).count()
print(json.dumps({{"wrong_players": len(per_player), "max_wrong": max(per_player, default=0),
                  "solved": solved}}))
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p99 and (from the Lua script's ``BENCH`` line) finished sequences
    per second; raises if wrk or the script saw an answer the figures cannot include."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    bench = re.search(
        r"^BENCH sequences=(\d+) errors=(\d+) duration_us=(\d+) first_error=(.*)$",
        output,
        re.MULTILINE,
    )
    if not rps or not p99 or not bench:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if bad or errors or int(bench.group(2)):
        raise RuntimeError(
            "wrk saw answers the request sequence does not expect; the figures would be "
            f"wrong ({bench.group(4) or 'see below'}):\n{output}"
        )
    return {
        "rps": float(rps.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "sequences": int(bench.group(1)),
        "players_per_s": int(bench.group(1)) / (int(bench.group(3)) / 1e6),
    }


def wrk(url: str, script: dict[str, object], duration: str = DURATION) -> dict[str, float]:
    argv = [
        "wrk",
        f"-t{WRK_THREADS}",
        "-c32",
        f"-d{duration}",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        *(f"{key}={value}" for key, value in script.items()),
    ]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return parse_wrk(completed.stdout)


def _prepare(
    env: dict[str, str], players_file: Path, storm_players: int, *, seed: bool = True
) -> dict[str, Any]:
    """Migrate, seed, the demo event and the players; the day's id and answer."""
    common.run_daylock("migrate", "--no-input", env=env)
    if seed:
        common.run_daylock("seed", "--users", "200", env=env)
    common.run_daylock("demo_data", env=env)
    script = PLAYERS.format(
        page=PAGE_PLAYERS, storm=storm_players, path=str(players_file), event=EVENT, day=DAY_NUMBER
    )
    output = common.run_daylock("shell", "-c", script, env=env).stdout.strip().splitlines()
    found: dict[str, Any] = json.loads(output[-1])
    return found


def _storm_check(env: dict[str, str], day_id: int) -> dict[str, int]:
    output = common.run_daylock("shell", "-c", STORM_CHECK.format(day_id=day_id), env=env)
    found: dict[str, int] = json.loads(output.stdout.strip().splitlines()[-1])
    return found


def _row(
    name: str,
    measured: list[dict[str, float]],
    baseline: str,
    baseline_runs: list[dict[str, float]],
    *,
    per: str,
    goal: str,
    goal_ratio: float | None,
    goal_p99_ms: float | None,
) -> dict[str, Any]:
    """One results row; ``per`` is ``rps`` (requests/s) or ``players_per_s``. The ratio
    is throughput over the baseline's (higher is better): the median of each run's
    ratio, since a run measures both within seconds of each other and the machine's
    speed drifts between runs more than within one."""
    value = common.median([r[per] for r in measured])
    base = common.median([r[per] for r in baseline_runs])
    p99 = common.median([r["p99_ms"] for r in measured])
    ratio = common.median([m[per] / b[per] for m, b in zip(measured, baseline_runs, strict=True)])
    met = None
    if goal_ratio is not None and goal_p99_ms is not None:
        met = ratio >= goal_ratio and p99 < goal_p99_ms
    row = common.result(
        name,
        [1.0 / r[per] for r in measured],
        baseline,
        [1.0 / r[per] for r in baseline_runs],
        goal=goal,
        met=met,
    )
    row.update(
        {
            # median_s is the mean time per request (per player for the storm) across
            # all 32 connections.
            "ratio": round(ratio, 3),
            "rps": round(common.median([r["rps"] for r in measured]), 1),
            "p99_ms": round(p99, 2),
            "baseline_rps": round(common.median([r["rps"] for r in baseline_runs]), 1),
            "baseline_p99_ms": round(common.median([r["p99_ms"] for r in baseline_runs]), 2),
            "runs_rps": [r["rps"] for r in measured],
            "runs_p99_ms": [r["p99_ms"] for r in measured],
            "runs_ratio": [
                round(m[per] / b[per], 3) for m, b in zip(measured, baseline_runs, strict=True)
            ],
        }
    )
    if per == "players_per_s":
        row.update(
            {
                "players_per_s": round(value, 1),
                "baseline_players_per_s": round(base, 1),
                "runs_players_per_s": [round(r[per], 1) for r in measured],
            }
        )
    return row


def run(runs: int = 5) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    runs = max(1, min(runs, 3))  # each measurement lasts 10 s; keep `make bench` short
    port = common.free_port()
    common.LOGS.mkdir(parents=True, exist_ok=True)
    players_file = common.LOGS / f"http-players-{port}.txt"
    storm_players = STORM_SLICE * (runs + 1)  # one fresh slice per run and the warm-up
    with common.throwaway_database("http") as database_url, common.throwaway_redis() as redis_url:
        env = common.staging_environ(database_url, redis_url, f"http://127.0.0.1:{port}")
        env |= {"DJANGO_SETTINGS_MODULE": "http_settings", "PYTHONPATH": str(common.BENCH_DIR)}
        day = _prepare(env, players_file, storm_players)
        env["DAYLOCK_BENCH_DAY_ID"] = str(day["day_id"])
        common_args: dict[str, object] = {
            "players": players_file,
            "threads": WRK_THREADS,
            "session_cookie": SESSION_COOKIE,
            "csrf_cookie": CSRF_COOKIE,
        }
        pages = common_args | {"first": 0, "count": PAGE_PLAYERS}
        page = pages | {"mode": "page", "get": DAY_PATH, "expect": '<span class="who">{name}<'}
        whoami = pages | {"mode": "page", "get": WHOAMI_PATH, "expect": "{name}"}
        plain = pages | {"mode": "page", "get": PLAIN_PATH, "expect": "plain"}
        storm_bare = pages | {
            "mode": "storm",
            "get": WHOAMI_PATH,
            "expect": "{name}",
            "post": INSERT_PATH,
            "wrong_status": 200,
            "right_status": 200,
            "wrong": "bench",
            "right": "bench",
            "wrap": 1,
        }

        def storm(slice_number: int) -> dict[str, object]:
            return common_args | {
                "mode": "storm",
                "first": PAGE_PLAYERS + slice_number * STORM_SLICE,
                "count": STORM_SLICE,
                "get": DAY_PATH,
                "expect": '<span class="who">{name}<',
                "post": ANSWER_PATH,
                "wrong_status": 200,
                "right_status": 302,
                "location": f"{DAY_PATH}#normal",
                "wrong": "not-" + str(day["answer"]),
                "right": str(day["answer"]),
                "wrong_shows": WRONG_SHOWS,
                "right_shows": RIGHT_SHOWS,
                "wrap": 0,
            }

        rows: dict[str, list[dict[str, float]]] = {
            "page": [],
            "whoami": [],
            "plain": [],
            "storm": [],
            "storm_bare": [],
        }
        sequences = 0
        with common.serve(env, port, workers=2, name="bench-http") as server:
            # Warm-up (imports, connections, caches), each check included.
            for script in (page, whoami, plain, storm_bare):
                wrk(server.url + "/", script, WARMUP)
            sequences += int(wrk(server.url + "/", storm(0), WARMUP)["sequences"])
            for number in range(1, runs + 1):
                rows["page"].append(wrk(server.url + "/", page))
                rows["whoami"].append(wrk(server.url + "/", whoami))
                rows["storm"].append(wrk(server.url + "/", storm(number)))
                rows["storm_bare"].append(wrk(server.url + "/", storm_bare))
                rows["plain"].append(wrk(server.url + "/", plain))
                sequences += int(rows["storm"][-1]["sequences"])
        checked = _storm_check(env, int(day["day_id"]))
    players_file.unlink(missing_ok=True)
    if checked["max_wrong"] != 1 or checked["solved"] < sequences:
        raise RuntimeError(
            f"the storm's players did not each answer once: {checked}, {sequences} sequences"
        )
    result = [
        _row(
            f"http: logged-in day page, {PAGE_PLAYERS:,} players",
            rows["page"],
            "bare logged-in view (session + request.user, 20 bytes), same server",
            rows["whoami"],
            per="rps",
            goal=f">= {PAGE_GOAL_RATIO} x baseline req/s, p99 < {PAGE_GOAL_P99_MS:.0f} ms",
            goal_ratio=PAGE_GOAL_RATIO,
            goal_p99_ms=PAGE_GOAL_P99_MS,
        ),
        _row(
            "http: unlock storm (GET, wrong POST, GET, right POST, GET), fresh players",
            rows["storm"],
            "same mix on bare logged-in views (GET 20 bytes, POST one INSERT)",
            rows["storm_bare"],
            per="players_per_s",
            goal=f">= {STORM_GOAL_RATIO} x baseline players/s, p99 < {STORM_GOAL_P99_MS:.0f} ms",
            goal_ratio=STORM_GOAL_RATIO,
            goal_p99_ms=STORM_GOAL_P99_MS,
        ),
        _row(
            f"http: bare logged-in view (session + request.user, 20 bytes), {PAGE_PLAYERS:,} "
            "players",
            rows["whoami"],
            "view returning 20 bytes, nothing else, same server",
            rows["plain"],
            per="rps",
            goal="informational: what the session and the user cost",
            goal_ratio=None,
            goal_p99_ms=None,
        ),
    ]
    for row in result:
        runs = ", ".join(f"{ratio:.3f}" for ratio in row["runs_ratio"])
        print(f"   {row['name']}: ratio {row['ratio']:.3f} (runs: {runs}; {row['goal']})")
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
