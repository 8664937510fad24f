"""Requests/s and p99 latency of a logged-in day page under ``daylock serve`` (gunicorn,
2 sync workers) on loopback with 32 concurrent clients (``wrk -t2 -c32 -d10s``),
against a plain Django view returning 20 bytes on the same server.

Goal: the day page reaches at least 0.35 x the plain view's requests/s with a p99
under 40 ms. Also measured, for scale: a logged-in view that returns 20 bytes after
Django's usual two reads (the session from Redis, the user's row from PostgreSQL) —
what any logged-in page pays that does not read its session in its own query.

The server is a throw-away staging instance (its own database and Redis DB) seeded with
the demo event; the player's session is a real Django session in Redis and PostgreSQL
(``cached_db``), passed to wrk as a Cookie header together with the CSRF cookie a
browser would hold after its first page (without it every response would mint a new CSRF
secret and set a cookie, which no real player's request does).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DAY_PATH = "/events/daylock-demo/day/2/"
PLAIN_PATH = "/bench/plain"
#: A logged-in view with no page of its own: what the session and the user cost.
WHOAMI_PATH = "/bench/whoami"
DURATION = "10s"
GOAL_RATIO = 0.35
GOAL_P99_MS = 40.0
SESSION_COOKIE = "daylock_staging_session"
CSRF_COOKIE = "daylock_staging_csrftoken"
PLAYER_NAME = "Bench Player"

#: Run inside ``daylock shell -c``: a player with a Discord account, logged in with a
#: real session, who has seen one page; prints the session key and the CSRF cookie.
LOGIN = f"""
from django.test import Client
from daylock.accounts.models import DiscordAccount, User
user, _ = User.objects.get_or_create(username="bench-player", defaults={{"first_name": "Bench"}})
DiscordAccount.objects.get_or_create(
    user=user,
    defaults={{"discord_id": "800000000000000777", "username": "benchplayer",
              "global_name": "{PLAYER_NAME}", "in_guild": True}},
)
client = Client()
client.force_login(user)
client.get("/events/")
print(client.cookies["{SESSION_COOKIE}"].value, client.cookies["{CSRF_COOKIE}"].value)
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not rps or not p99:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if bad or errors:
        raise RuntimeError(f"wrk saw failed requests; the figures would be wrong:\n{output}")
    return {"rps": float(rps.group(1)), "p99_ms": _ms(p99.group(1))}


def wrk(url: str, headers: dict[str, str], duration: str = DURATION) -> dict[str, float]:
    argv = ["wrk", "-t2", "-c32", f"-d{duration}", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    completed = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=120, check=True
    )
    return parse_wrk(completed.stdout)


def _prepare(env: dict[str, str]) -> dict[str, str]:
    """Migrate, seed (when the seed command exists) and the demo event; the player's
    cookies (session and CSRF)."""
    common.run_daylock("migrate", "--no-input", env=env)
    try:
        common.run_daylock("seed", "--users", "200", env=env)
    except RuntimeError as exc:
        print(f"bench_http: seeding skipped ({str(exc).splitlines()[0]})", file=sys.stderr)
    common.run_daylock("demo_data", env=env)
    output = common.run_daylock("shell", "-c", LOGIN, env=env).stdout.strip().splitlines()[-1]
    session, csrf = output.split()
    return {SESSION_COOKIE: session, CSRF_COOKIE: csrf}


def run(runs: int = 5) -> list[dict[str, Any]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    runs = max(1, min(runs, 3))  # each measurement lasts 10 s; keep `make bench` short
    port = common.free_port()
    with common.throwaway_database("http") as database_url, common.throwaway_redis() as redis_url:
        env = common.staging_environ(database_url, redis_url, f"http://127.0.0.1:{port}")
        env |= {"DJANGO_SETTINGS_MODULE": "http_settings", "PYTHONPATH": str(common.BENCH_DIR)}
        cookies = _prepare(env)
        cookie = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
        with common.serve(env, port, workers=2, name="bench-http") as server:
            import requests

            page = requests.get(server.url + DAY_PATH, headers=cookie, timeout=10)
            if page.status_code != 200 or "bench-player" not in page.text:
                raise RuntimeError(
                    f"the day page is not a logged-in 200 ({page.status_code}); "
                    f"benchmarking it would measure something else:\n{page.text[:2000]}"
                )
            # Django re-sends the CSRF cookie to renew it; a different value would mean
            # ours was refused and every request mints a new secret.
            if page.cookies.get(CSRF_COOKIE, cookies[CSRF_COOKIE]) != cookies[CSRF_COOKIE]:
                raise RuntimeError("the server minted a new CSRF cookie: the bench's is not valid")
            plain = requests.get(server.url + PLAIN_PATH, timeout=10)
            if plain.status_code != 200 or len(plain.content) != 20:
                raise RuntimeError(f"the plain view answered {plain.status_code}")
            wrk(server.url + DAY_PATH, cookie, "2s")  # warm-up: imports, connections
            wrk(server.url + PLAIN_PATH, {}, "2s")
            whoami = requests.get(server.url + WHOAMI_PATH, headers=cookie, timeout=10)
            if not whoami.text.startswith("bench-player"):
                raise RuntimeError(f"/bench/whoami is not logged in: {whoami.text!r}")
            day_runs, plain_runs, whoami_runs = [], [], []
            for _ in range(runs):
                day_runs.append(wrk(server.url + DAY_PATH, cookie))
                plain_runs.append(wrk(server.url + PLAIN_PATH, {}))
                whoami_runs.append(wrk(server.url + WHOAMI_PATH, cookie))
    rps = common.median([r["rps"] for r in day_runs])
    p99 = common.median([r["p99_ms"] for r in day_runs])
    baseline_rps = common.median([r["rps"] for r in plain_runs])
    baseline_p99 = common.median([r["p99_ms"] for r in plain_runs])
    ratio = rps / baseline_rps
    row = common.result(
        "http: logged-in day page",
        [1.0 / r["rps"] for r in day_runs],
        "plain Django view (20 bytes), same server",
        [1.0 / r["rps"] for r in plain_runs],
        goal=f">= {GOAL_RATIO} x baseline rps, p99 < {GOAL_P99_MS:.0f} ms",
        met=ratio >= GOAL_RATIO and p99 < GOAL_P99_MS,
    )
    row.update(
        {
            # median_s here is the mean service time per request across all clients.
            "ratio": round(ratio, 3),
            "rps": round(rps, 1),
            "p99_ms": round(p99, 2),
            "baseline_rps": round(baseline_rps, 1),
            "baseline_p99_ms": round(baseline_p99, 2),
            "runs_rps": [r["rps"] for r in day_runs],
            "runs_p99_ms": [r["p99_ms"] for r in day_runs],
        }
    )
    whoami_rps = common.median([r["rps"] for r in whoami_runs])
    floor = common.result(
        "http: logged-in view, 20 bytes (session from Redis + user, no page)",
        [1.0 / r["rps"] for r in whoami_runs],
        "plain Django view (20 bytes), same server",
        [1.0 / r["rps"] for r in plain_runs],
        goal="informational: Django's usual session + user reads",
        met=None,
    )
    floor.update(
        {
            "ratio": round(whoami_rps / baseline_rps, 3),
            "rps": round(whoami_rps, 1),
            "p99_ms": round(common.median([r["p99_ms"] for r in whoami_runs]), 2),
            "baseline_rps": round(baseline_rps, 1),
            "baseline_p99_ms": round(baseline_p99, 2),
        }
    )
    return [row, floor]


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
