"""``daylock draw`` as a real process against a throw-away database: verify catches a
changed winner, two simultaneous runs make one draw, production asks for confirmation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis

from daylock.testing import pytest_plugin
from tests.conftest import ROOT, Databases, run_daylock

SETUP = """
import json
from tests.events.factories import DiscordAccountFactory, EventFactory, UserFactory, complete
from tests.prizes.conftest import member_sync_done
from daylock.prizes import services
for factory_class in (EventFactory, UserFactory, DiscordAccountFactory):
    factory_class.reset_sequence({offset})  # factory sequences restart in every process
event = EventFactory(day_count=1)
users = [UserFactory() for _ in range({users})]
for u in users:
    complete(u, event, "normal")
prize = services.prize_create(event=event, name="Mug", fulfilment="{fulfilment}", quantity={k},
                              announce_channel_id="710000000000000001")
if {codes}:
    services.prize_codes_add(prize=prize, codes=["PROD-A", "PROD-B", "PROD-C"])
member_sync_done()  # as the worker's periodic sync would have
services.draw_close_entries(prize=prize, actor=None)
print(json.dumps({{"prize": prize.pk, "draw": prize.draw.pk}}))
"""

#: A prize of an event whose second day opens tomorrow, entries open, membership fresh.
EARLY_SETUP = """
import datetime as dt, json
from django.utils import timezone
from tests.events.factories import EventFactory, UserFactory, complete
from tests.prizes.conftest import member_sync_done
from daylock.prizes import services
EventFactory.reset_sequence({offset})
UserFactory.reset_sequence({offset})
event = EventFactory(day_count=2, starts_on=timezone.now().date())
user = UserFactory()
complete(user, event, "normal", days=1)
prize = services.prize_create(event=event, name="Early mug", fulfilment="manual", quantity=1)
member_sync_done()
print(json.dumps({{"prize": prize.pk, "draw": prize.draw.pk}}))
"""


_setups = 0


def setup_prize(
    env: dict[str, str], *, users: int = 8, k: int = 2, fulfilment: str = "manual"
) -> dict[str, int]:
    global _setups
    _setups += 1
    script = SETUP.format(
        users=users, k=k, fulfilment=fulfilment, codes=fulfilment == "code", offset=_setups * 1000
    )
    result = run_daylock("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    ids: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return ids


def _environment(label: str, base: dict[str, str], slot: int) -> Iterator[dict[str, str]]:
    dbs = Databases()
    url = pytest_plugin.redis_url(slot)
    redis.Redis.from_url(url).flushdb()
    env = base | {"DATABASE_URL": dbs.create(label), "REDIS_URL": url}
    migrated = run_daylock("migrate", "--no-input", env=env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    try:
        yield env
    finally:
        dbs.drop_all()
        redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="module")
def staging_env() -> Iterator[dict[str, str]]:
    yield from _environment("draw", pytest_plugin.staging_environ(), slot=2)


@pytest.fixture(scope="module")
def production_env() -> Iterator[dict[str, str]]:
    yield from _environment("drawprod", pytest_plugin.production_environ(), slot=3)


def test_verify_passes_untouched_and_names_a_changed_winner(staging_env: dict[str, str]) -> None:
    ids = setup_prize(staging_env)
    draw = str(ids["draw"])
    closed = run_daylock("draw", "verify", draw, env=staging_env)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.startswith(f"OK draw {draw} (closed)")
    ran = run_daylock("draw", "run", str(ids["prize"]), env=staging_env)
    assert ran.returncode == 0, ran.stderr
    assert f"draw {draw} drawn (simulated)" in ran.stdout
    ok = run_daylock("draw", "verify", draw, env=staging_env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"OK draw {draw} (drawn)")
    listed = run_daylock("draw", "list", env=staging_env)
    line = next(x for x in listed.stdout.splitlines() if x.split()[0] == draw)
    assert line.startswith(f'{draw} drawn prize={ids["prize"]} "Mug"')
    assert "entrants=8 winners=2 simulated" in line

    # Tamper: give rank 2 to an entrant who did not win it.
    with psycopg.connect(staging_env["DATABASE_URL"], autocommit=True) as conn:
        winners = dict(
            conn.execute(
                "SELECT rank, user_id FROM prizes_drawwinner WHERE draw_id = %s", [ids["draw"]]
            ).fetchall()
        )
        stored = conn.execute(
            "SELECT encoded FROM prizes_drawentrantlist WHERE draw_id = %s", [ids["draw"]]
        ).fetchone()
        assert stored is not None
        other = next(int(i) for i in stored[0].split() if int(i) not in winners.values())
        conn.execute(
            "UPDATE prizes_drawwinner SET user_id = %s WHERE draw_id = %s AND rank = 2",
            [other, ids["draw"]],
        )
    bad = run_daylock("draw", "verify", draw, env=staging_env)
    assert bad.returncode == 1
    assert (
        f"MISMATCH draw {draw}: winner rank 2: stored user {other}, "
        f"recomputed user {winners[2]}" in bad.stderr
    )
    assert "does not verify: 1 difference(s)" in bad.stderr


def test_close_is_refused_while_days_are_locked_unless_forced_with_a_reason(
    staging_env: dict[str, str],
) -> None:
    global _setups
    _setups += 1
    made = run_daylock("shell", "-c", EARLY_SETUP.format(offset=_setups * 1000), env=staging_env)
    assert made.returncode == 0, made.stderr
    ids = json.loads(made.stdout.strip().splitlines()[-1])
    prize = str(ids["prize"])
    refused = run_daylock("draw", "close", prize, env=staging_env)
    assert refused.returncode == 1
    assert "day 2 is still locked" in refused.stderr
    assert f'daylock draw close {prize} --force "why"' in refused.stderr
    blank = run_daylock("draw", "close", prize, "--force", "  ", env=staging_env)
    assert blank.returncode == 1
    assert "needs a reason" in blank.stderr
    forced = run_daylock(
        "draw", "close", prize, "--force", "venue closes early, agreed on Discord", env=staging_env
    )
    assert forced.returncode == 0, forced.stderr
    assert f"draw {ids['draw']}: entries closed" in forced.stdout
    with psycopg.connect(staging_env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT closed_early, locked_days, close_reason FROM prizes_draw WHERE id = %s",
            [ids["draw"]],
        ).fetchone()
        audit = conn.execute(
            "SELECT actor_label, details->>'forced' FROM core_auditlog "
            "WHERE action = 'prizes.draw_close_entries' AND target = %s",
            [f"draw:{ids['draw']}"],
        ).fetchone()
    assert row == (True, [2], "venue closes early, agreed on Discord")
    assert audit == ("cli", "venue closes early, agreed on Discord")


def test_verify_unknown_draw_and_run_unknown_prize(staging_env: dict[str, str]) -> None:
    missing = run_daylock("draw", "verify", "999999", env=staging_env)
    assert missing.returncode == 1
    assert "no draw with id 999999" in missing.stderr
    missing = run_daylock("draw", "run", "999999", env=staging_env)
    assert missing.returncode == 1
    assert "no prize with id 999999" in missing.stderr


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.Popen(
        [sys.executable, "-m", "daylock", *args],
        env=base | env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_two_processes_running_the_same_draw_make_one_draw(staging_env: dict[str, str]) -> None:
    ids = setup_prize(staging_env, users=30, k=3)
    prize = str(ids["prize"])
    procs = [_spawn(staging_env, "draw", "run", prize) for _ in range(2)]
    outcomes = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for code, _, err in outcomes if code == 1)
    assert "already drawn" in loser
    with psycopg.connect(staging_env["DATABASE_URL"]) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM prizes_drawwinner WHERE draw_id = %s", [ids["draw"]]
        ).fetchone() or (0,)
        (messages,) = conn.execute(
            "SELECT count(*) FROM discord_outboxmessage WHERE source = %s",
            [f"draw:{ids['draw']}"],
        ).fetchone() or (0,)
    assert count == 3
    assert messages == 1  # one announcement, not two
    assert run_daylock("draw", "verify", str(ids["draw"]), env=staging_env).returncode == 0


def test_production_run_refuses_without_a_terminal_or_yes(production_env: dict[str, str]) -> None:
    ids = setup_prize(production_env, users=4, k=2, fulfilment="code")
    prize = str(ids["prize"])
    refused = run_daylock("draw", "run", prize, env=production_env)
    assert refused.returncode == 2
    assert "refusing to run the draw of prize" in refused.stderr
    assert "re-run with --yes" in refused.stderr
    ran = run_daylock("draw", "run", prize, "--yes", env=production_env)
    assert ran.returncode == 0, ran.stderr
    assert "(simulated)" not in ran.stdout
    again = run_daylock("draw", "run", prize, "--yes", env=production_env)
    assert again.returncode == 1
    assert "already drawn" in again.stderr
    assert run_daylock("draw", "verify", str(ids["draw"]), env=production_env).returncode == 0
    with psycopg.connect(production_env["DATABASE_URL"]) as conn:
        assigned = conn.execute(
            "SELECT count(*) FROM prizes_prizecode WHERE assigned_to_id IS NOT NULL"
        ).fetchone()
    assert assigned == (2,)


def _run_at_terminal(env: dict[str, str], answer: str, *args: str) -> tuple[int, str]:
    """Run ``daylock`` with a real pseudo-terminal as stdin and type ``answer``."""
    master, slave = os.openpty()
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daylock", *args],
        env=base | env,
        cwd=ROOT,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(slave)
    try:
        time.sleep(0.2)
        os.write(master, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, out


def test_production_run_asks_at_the_terminal(production_env: dict[str, str]) -> None:
    ids = setup_prize(production_env, users=3, k=1)
    prize = str(ids["prize"])
    code, out = _run_at_terminal(production_env, "no", "draw", "run", prize)
    assert code == 1, out
    assert "in PRODUCTION? Real prizes are released" in out
    assert "aborted: the draw was not run" in out
    code, out = _run_at_terminal(production_env, "yes", "draw", "run", prize)
    assert code == 0, out
    assert f"draw {ids['draw']} drawn: seed " in out
