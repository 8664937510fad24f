"""Issue 15's last check: one event pack, imported in production and in staging, plays
its life cycle in both — and production's posts reach production's Discord while
staging's are captured and never reach any Discord.

Production runs on wall time: the event started yesterday, so both of its days are
open now; its worker's minute tick (deferred now instead of waited for) posts them. A
player logs in through production's Discord, completes the event (a completion-role
grant) and wins the prize (entries closed, results, the winner's DM). Staging gets the
same pack with its own server's ids, moves its clock (which ticks at once), completes a
seeded player with the test utility and draws the same prize.

Then, per kind, production's outbox rows were sent and production's emulator holds
exactly those messages and that role change, in production's channel, from production's
bot token; staging's rows of the same kinds are captured, and staging's emulator got
no post, DM or role change. Neither emulator saw the other environment's bot token,
channel, role or guild (the request record keeps a fingerprint of each request's token).

Runs last (marker ``production_discord``): the tests before it assert that production's
Discord has seen nothing but its own identity checks.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import requests

from daylock import seeded_accounts
from daylock.testing.discord_emulator.config import PLAYER_USER_ID, WINNER_ROLE_ID
from tests.e2e.conftest import Instances
from tests.e2e.harness import Instance

pytestmark = [pytest.mark.e2e, pytest.mark.production_discord]

SLUG = "isolation-week"
PRIZE = "Isolation prize"
ANSWERS = {1: "4", 2: "9"}
#: Each environment's own server: an announcement channel and a completion role.
STAGING_CHANNEL, STAGING_ROLE = "700000000000000700", "700000000000000713"
PRODUCTION_CHANNEL, PRODUCTION_ROLE = "900000000000000700", WINNER_ROLE_ID
#: The seeded player staging's test utility completes the event for.
STAGING_PLAYER = next(
    a
    for a in seeded_accounts.ROSTER
    if a.role == seeded_accounts.PLAYER and a.in_guild and not a.banned
)
#: Per kind, what the life cycle of one event with one drawn prize sends: two "Day N is
#: open", the last-day reminder, entries closed and results; one completion role; the
#: winner's DM.
KINDS = {"channel_message": 5, "role_grant": 1, "direct_message": 1}
CHANNEL_POSTS = {
    "event:{event}:day-open:1",
    "event:{event}:day-open:2",
    "event:{event}:last-day-reminder",
    "event:{event}:draw:{draw}:entries-closed",
    "event:{event}:draw:{draw}:results",
}


def event_pack(*, starts_on: str, channel: str, role: str) -> dict[str, Any]:
    return {
        "format": "daylock-event-pack",
        "version": 1,
        "event": {
            "slug": SLUG,
            "name": "Isolation Week",
            "description": "Two days, one prize: the life cycle in each environment's Discord.",
            "time_zone": "UTC",
            "starts_on": starts_on,
            "day_count": 2,
            "published": True,
            "completion_role_normal_id": role,
            "completion_role_veteran_id": None,
            "announce_channel_id": channel,
        },
        "days": [
            {
                "number": number,
                "title": f"Isolation day {number}",
                "body_markdown": "Each environment posts to its own server only.",
                "challenges": {"normal": {"prompt": "What is the answer?", "answer": answer}},
            }
            for number, answer in ANSWERS.items()
        ],
        "prizes": [
            {
                "name": PRIZE,
                "description": "Drawn among normal finishers.",
                "quantity": 1,
                "min_tier": "normal",
                "feedback_required": False,
                "fulfilment": "manual",
                "discord_role_id": "",
                "announce_channel_id": "",
            }
        ],
    }


def fingerprint(token: str) -> str:
    """As the emulator's request record keeps it (``state.credential_fingerprint``)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def ok(instance: Instance, *args: str) -> str:
    result = instance.daylock(*args, timeout=120)
    assert result.returncode == 0, (instance.name, args, result.stdout, result.stderr)
    return result.stdout


def query(instance: Instance, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(instance.database_url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def event_and_prize(instance: Instance) -> tuple[int, int]:
    rows = query(
        instance,
        "SELECT e.id, p.id FROM events_event e JOIN prizes_prize p ON p.event_id = e.id "
        "WHERE e.slug = %s AND p.name = %s",
        SLUG,
        PRIZE,
    )
    assert len(rows) == 1, rows
    return int(rows[0][0]), int(rows[0][1])


def draw_id(instance: Instance, prize_id: int) -> int:
    rows = query(instance, "SELECT id FROM prizes_draw WHERE prize_id = %s", prize_id)
    assert len(rows) == 1, rows
    return int(rows[0][0])


def outbox_rows(instance: Instance, *, event: int, draw: int) -> list[dict[str, Any]]:
    """The outbox rows of the event's life cycle and of its prize's draw (the winner's
    DM is keyed by the draw)."""
    columns = ("kind", "status", "channel_id", "recipient_id", "role_id", "dedup_key",
               "discord_message_id", "environment")  # fmt: skip
    rows = query(
        instance,
        f"SELECT {', '.join(columns)} FROM discord_outboxmessage "  # noqa: S608 - fixed names
        "WHERE dedup_key LIKE %s OR source LIKE %s ORDER BY id",
        f"event:{event}:%",
        f"draw:{draw}:%",
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def outbox_rows_since(instance: Instance, since: datetime) -> int:
    rows = query(
        instance, "SELECT count(*) FROM discord_outboxmessage WHERE created_at >= %s", since
    )
    return int(rows[0][0])


def per_kind(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return counts


def settled(
    instance: Instance, *, event: int, draw: int, timeout: float = 40
) -> list[dict[str, Any]]:
    """The rows once there are as many of each kind as expected and the worker has
    handled all of them (a duplicate keeps it waiting, then fails)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = outbox_rows(instance, event=event, draw=draw)
        waiting = [r for r in rows if r["status"] in {"queued", "sending"}]
        if per_kind(rows) == KINDS and not waiting:
            return rows
        assert time.monotonic() < deadline, f"{instance.name}: {per_kind(rows)}, {rows}"
        time.sleep(0.3)


def channel_keys(rows: list[dict[str, Any]], *, event: int, draw: int) -> set[str]:
    keys = {r["dedup_key"] for r in rows if r["kind"] == "channel_message"}
    assert {k.format(event=event, draw=draw) for k in CHANNEL_POSTS} == keys
    return keys


def emulator_get(instance: Instance, route: str) -> list[dict[str, Any]]:
    response = requests.get(f"{instance.emulator_url}/_emulator/{route}", timeout=10)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()
    return data


def production_player_completes(production: Instance) -> None:
    """The player logs in through production's Discord and solves both days."""
    http = requests.Session()
    # Per request: a session's own ``verify`` loses to REQUESTS_CA_BUNDLE in the environment.
    tls = production.verify
    login = production.url("/auth/login/")
    http.get(login, verify=tls, timeout=10).raise_for_status()
    csrf = {"X-CSRFToken": http.cookies["daylock_production_csrftoken"], "Referer": login}
    started = http.post(
        login,
        data={"next": f"/events/{SLUG}/"},
        headers=csrf,
        allow_redirects=False,
        verify=tls,
        timeout=10,
    )
    authorize = started.headers["Location"]
    assert authorize.startswith(production.emulator_url + "/api/v10/oauth2/authorize?")
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    decision = requests.post(
        authorize.split("?", 1)[0],
        data={**form, "action": "authorize", "user_id": PLAYER_USER_ID},
        allow_redirects=False,
        timeout=10,
    )
    back = http.get(decision.headers["Location"], allow_redirects=False, verify=tls, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == f"/events/{SLUG}/", back.text
    for number, answer in ANSWERS.items():
        day = production.url(f"/events/{SLUG}/day/{number}/")
        token = http.cookies["daylock_production_csrftoken"]
        solved = http.post(
            f"{day}answer/normal/",
            data={"answer": answer},
            headers={"X-CSRFToken": token, "Referer": day},
            allow_redirects=False,
            verify=tls,
            timeout=10,
        )
        assert solved.status_code == 302, (number, solved.status_code, solved.text[:500])


def play_production(production: Instance, pack: Path) -> tuple[int, int]:
    """Import the pack; on wall time both days are open: the worker's minute tick (asked
    for now rather than waited for) posts them. A player completes the event through
    production's Discord and wins the prize; returns the event's and the prize's ids."""
    ok(production, "event", "import", str(pack), "--yes")
    tick = json.dumps({"timestamp": int(time.time())})
    ok(production, "procrastinate", "defer", "--ignore-already-enqueued",
       "daylock.discord.lifecycle_tick", tick)  # fmt: skip
    production_player_completes(production)
    event, prize = event_and_prize(production)
    ok(production, "discord", "sync-members")
    ok(production, "draw", "close", str(prize))
    ok(production, "draw", "run", str(prize), "--yes")
    return event, prize


def play_staging(staging: Instance) -> tuple[int, int]:
    """The clock moves (and ticks at once), the test utility completes a seeded player,
    the same prize is drawn (simulated); the clock goes back to wall time."""
    ok(staging, "testtools", "clock", "set", "--forward", "1h")
    ok(staging, "testtools", "complete", "--user", STAGING_PLAYER.username, "--event", SLUG,
       "--tier", "normal")  # fmt: skip
    event, prize = event_and_prize(staging)
    ok(staging, "discord", "sync-members")
    ok(staging, "draw", "close", str(prize))
    ok(staging, "draw", "run", str(prize), "--yes")
    ok(staging, "testtools", "clock", "reset")
    return event, prize


def assert_no_trace_of(record: list[dict[str, Any]], other: Instance, ids: tuple[str, ...]) -> None:
    """Nothing in ``record`` came from ``other``'s bot or went to ``other``'s server."""
    foreign = fingerprint(other.env["DISCORD_BOT_TOKEN"])
    assert [r for r in record if r["credential"] == foreign] == []
    text = json.dumps(record)
    for marker in (*ids, other.env["DISCORD_CLIENT_ID"], other.public_url):
        assert marker not in text, marker


def test_production_posts_reach_production_discord_and_stagings_never_do(
    instances: Instances, tmp_path: Path
) -> None:
    production, staging = instances.production, instances.staging
    since = datetime.now(UTC) - timedelta(seconds=1)
    production_requests_before = len(emulator_get(production, "requests"))
    staging_requests_before = len(emulator_get(staging, "requests"))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    # Authored in staging, exported, given production's ids, imported in production.
    pack = event_pack(starts_on=yesterday, channel=STAGING_CHANNEL, role=STAGING_ROLE)
    (tmp_path / "staging.json").write_text(json.dumps(pack))
    ok(staging, "event", "import", str(tmp_path / "staging.json"), "--yes")
    exported = json.loads(ok(staging, "event", "export", SLUG))
    assert exported == pack
    exported["event"] |= {
        "announce_channel_id": PRODUCTION_CHANNEL,
        "completion_role_normal_id": PRODUCTION_ROLE,
    }
    (tmp_path / "production.json").write_text(json.dumps(exported))
    # Each environment plays its life cycle, side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        played = pool.submit(play_production, production, tmp_path / "production.json")
        rehearsed = pool.submit(play_staging, staging)
        production_event, production_prize = played.result()
        staging_event, staging_prize = rehearsed.result()

    # --- production: every row sent, and its Discord holds exactly those ---------------
    production_draw = draw_id(production, production_prize)
    sent = settled(production, event=production_event, draw=production_draw)
    assert per_kind(sent) == KINDS, sent
    assert {r["status"] for r in sent} == {"sent"}, sent
    assert {r["environment"] for r in sent} == {"production"}
    keys = channel_keys(sent, event=production_event, draw=production_draw)
    assert outbox_rows_since(production, since) == len(sent)  # production wrote nothing else
    posts = [r for r in sent if r["kind"] == "channel_message"]
    assert {r["channel_id"] for r in posts} == {PRODUCTION_CHANNEL}
    assert len(keys) == len(posts)  # each post once
    messages = {m["id"]: m for m in emulator_get(production, "messages")}
    in_channel = {i: m for i, m in messages.items() if m["channel_id"] == PRODUCTION_CHANNEL}
    assert set(in_channel) == {r["discord_message_id"] for r in posts}
    for message in in_channel.values():
        assert production.public_url in json.dumps(message)
    dm = next(r for r in sent if r["kind"] == "direct_message")
    assert dm["recipient_id"] == PLAYER_USER_ID
    assert messages[dm["discord_message_id"]]["channel_id"] != PRODUCTION_CHANNEL
    assert len(messages) == len(in_channel) + 1  # nothing else reached production's Discord
    grants = emulator_get(production, "role-changes")
    assert [(g["user_id"], g["role_id"]) for g in grants] == [(PLAYER_USER_ID, PRODUCTION_ROLE)]
    production_record = emulator_get(production, "requests")[production_requests_before:]
    bots = {
        r["credential"] for r in production_record if r["headers"].get("Authorization") == "Bot ***"
    }
    assert bots == {fingerprint(production.env["DISCORD_BOT_TOKEN"])}
    writes = [r for r in production_record if r["method"] in {"POST", "PUT", "DELETE", "PATCH"}
              and "/oauth2/" not in r["path"]]  # fmt: skip
    done = [r for r in writes if r["status"] in {200, 201, 204}]
    assert len(done) == sum(KINDS.values()) + 1, writes  # + opening the DM channel
    assert {r["status"] for r in writes} - {200, 201, 204} <= {429}, writes  # paced retries

    # --- staging: the same kinds, captured; its Discord got none of them -----------------
    staging_draw = draw_id(staging, staging_prize)
    captured = settled(staging, event=staging_event, draw=staging_draw)
    assert per_kind(captured) == KINDS, captured
    assert {r["status"] for r in captured} == {"captured"}, captured
    assert {r["environment"] for r in captured} == {"staging"}
    channel_keys(captured, event=staging_event, draw=staging_draw)
    assert {r["channel_id"] for r in captured if r["kind"] == "channel_message"} == {
        STAGING_CHANNEL
    }
    grant = next(r for r in captured if r["kind"] == "role_grant")
    assert (grant["recipient_id"], grant["role_id"]) == (STAGING_PLAYER.discord_id, STAGING_ROLE)
    assert not any(r["discord_message_id"] for r in captured)
    assert emulator_get(staging, "messages") == []
    assert emulator_get(staging, "role-changes") == []
    staging_record = emulator_get(staging, "requests")[staging_requests_before:]
    assert staging_record, "staging's worker and commands talk to staging's own Discord"
    assert [r for r in staging_record if re.search(r"/messages$|/roles/|/users/@me/channels$",
                                                   r["path"])] == []  # fmt: skip
    staging_bots = {
        r["credential"] for r in staging_record if r["headers"].get("Authorization") == "Bot ***"
    }
    assert staging_bots == {fingerprint(staging.env["DISCORD_BOT_TOKEN"])}

    # --- neither saw the other, in the whole record since the emulators started ------------
    assert_no_trace_of(
        emulator_get(production, "requests"),
        staging,
        (STAGING_CHANNEL, STAGING_ROLE, staging.env["DISCORD_GUILD_ID"]),
    )
    assert_no_trace_of(
        emulator_get(staging, "requests"),
        production,
        (PRODUCTION_CHANNEL, production.env["DISCORD_GUILD_ID"]),
    )
    production.assert_running()
    staging.assert_running()
