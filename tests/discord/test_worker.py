"""``daylock worker`` and ``daylock outbox`` as real processes, against a throw-away
database and the emulator: the path production uses, end to end.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from daylock.testing import pytest_plugin
from daylock.testing.discord_emulator import RunningEmulator, default_config
from daylock.testing.discord_emulator.config import PLAYER_USER_ID
from tests.conftest import Databases, run_daylock

ALLOWED = "710000000000000001"
NOT_ALLOWED = "710000000000000003"

ENQUEUE = f"""
from django.db import transaction
from daylock.discord.services import outbox_enqueue
with transaction.atomic():
    outbox_enqueue(kind="channel_message", content="to the test server", channel_id="{ALLOWED}",
                   source="test:worker")
    outbox_enqueue(kind="channel_message", content="elsewhere", channel_id="{NOT_ALLOWED}")
    outbox_enqueue(kind="direct_message", content="psst", recipient_id="{PLAYER_USER_ID}")
"""


@pytest.fixture
def base_env(
    databases: Databases, redis_dbs: Callable[[int], str], discord_emulator: RunningEmulator
) -> dict[str, str]:
    # The emulator plays staging's own Discord: its bot is the one staging's token names.
    discord_emulator.reset(default_config(bot_token=pytest_plugin.STAGING_TEST_BOT_TOKEN))
    return pytest_plugin.staging_environ() | {
        "DATABASE_URL": databases.create("outbox"),
        "REDIS_URL": redis_dbs(1),
        "DISCORD_API_BASE": discord_emulator.base_api_url,
        "DISCORD_GUILD_ID": discord_emulator.config.guild_id,
        "DISCORD_DELIVERY": "allowlist",
        "DISCORD_ALLOWED_CHANNEL_IDS": ALLOWED,
    }


def _outbox_lines(env: dict[str, str], *args: str) -> list[str]:
    listed = run_daylock("outbox", "list", *args, env=env)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.splitlines()


def test_worker_delivers_the_outbox_under_the_allowlist_and_sweeps_lost_jobs(
    base_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    env = base_env
    migrated = run_daylock("migrate", "--no-input", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    enqueued = run_daylock("shell", "-c", ENQUEUE, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    assert discord_emulator.requests() == []  # nothing leaves before the worker runs

    worker = run_daylock("worker", "--once", env=env, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert "delivery mode allowlist" in worker.stdout

    [message] = discord_emulator.messages()
    assert (message["channel_id"], message["content"]) == (ALLOWED, "to the test server")
    # The worker's start asked which bot it is and the allow-listed channel's guild; then
    # delivery sent the one allow-listed message (and nothing else). Its periodic member
    # sync read the guild's member list (daylock.discord.membership), a read only.
    members = f"/api/v10/guilds/{discord_emulator.config.guild_id}/members"
    recorded = [(r["method"], r["path"]) for r in discord_emulator.requests()]
    assert ("GET", members) in recorded
    assert [r for r in recorded if r != ("GET", members)] == [
        ("GET", "/api/v10/users/@me"),
        ("GET", f"/api/v10/channels/{ALLOWED}"),
        ("GET", f"/api/v10/channels/{ALLOWED}"),
        ("POST", f"/api/v10/channels/{ALLOWED}/messages"),
    ]
    assert "daylock worker: discord-identity: bot 700000000000000003" in worker.stdout
    by_content = {line.split(maxsplit=5)[5]: line.split() for line in _outbox_lines(env)}
    assert by_content["to the test server"][1:3] == ["sent", "channel_message"]
    assert by_content["elsewhere"][1] == "blocked"
    assert by_content["psst"][1:4] == ["blocked", "direct_message", f"user:{PLAYER_USER_ID}"]

    # Rows whose job got lost (e.g. a restored backup) are picked up when a worker starts.
    enqueued = run_daylock("shell", "-c", ENQUEUE, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM procrastinate_jobs")
    worker = run_daylock("worker", "--once", env=env, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert "scheduled 3 waiting message(s)" in worker.stdout
    assert len(discord_emulator.messages(ALLOWED)) == 2
    assert len(_outbox_lines(env, "--status", "sent")) == 2
    assert len(_outbox_lines(env, "--status", "queued")) == 0


def test_worker_refuses_to_start_with_live_delivery_outside_production(
    base_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    worker = run_daylock("worker", "--once", env=base_env | {"DISCORD_DELIVERY": "live"})
    assert worker.returncode == 2
    assert worker.stderr.startswith("daylock: refused:")
    assert "live" in worker.stderr
    assert discord_emulator.requests() == []


def test_development_sqlite_has_no_queue_and_captures_at_once(tmp_path: object) -> None:
    """The zero-setup default: no worker needed, nothing sent, everything visible."""
    env = {"APP_ENV": "development", "DAYLOCK_VAR_DIR": str(tmp_path)}
    migrated = run_daylock("migrate", "--no-input", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    enqueued = run_daylock("shell", "-c", ENQUEUE, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    lines = _outbox_lines(env)
    assert [line.split()[1] for line in lines] == ["captured"] * 3
    worker = run_daylock("worker", env=env)
    assert worker.returncode == 0, worker.stderr
    assert "no queue on this database: delivered 0 waiting message(s)" in worker.stdout


def test_worker_survives_its_database_being_recreated_and_keeps_delivering(
    base_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    """`daylock reset` drops and re-creates the database under a running worker."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from psycopg import sql

    from tests.conftest import ROOT

    env = base_env
    assert run_daylock("migrate", "--no-input", env=env, timeout=120).returncode == 0
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    template = f"{name}_tpl"
    admin = f"{pytest_plugin.PG}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(template), sql.Identifier(name)
            )
        )
    worker = subprocess.Popen(
        [sys.executable, "-m", "daylock", "worker"],
        env={"PATH": os.environ["PATH"]} | env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert worker.stdout is not None
        # banner, the discord-identity guard's answer, then the sweep
        started = [worker.stdout.readline() for _ in range(3)]
        assert "discord-identity: bot 700000000000000003" in started[1], started
        assert "scheduled" in started[2], started
        time.sleep(2)  # let procrastinate open its connections
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        assert run_daylock("shell", "-c", ENQUEUE, env=env).returncode == 0
        deadline = time.monotonic() + 40
        while not discord_emulator.messages():
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker did not deliver after the reset"
            time.sleep(0.5)
        [message] = discord_emulator.messages()
        assert message["content"] == "to the test server"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(template))
            )
    assert worker.returncode == 0, err
    assert "database connection lost; reconnecting" in err
    assert "daylock worker: reconnected" in out
    assert "daylock worker: stopped" in out


ENQUEUE_ONE = f"""
from daylock.discord.services import outbox_enqueue
print(outbox_enqueue(kind="channel_message", content="the winner is…", channel_id="{ALLOWED}").pk)
"""


def _sql(env: dict[str, str], query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def _kill_worker_mid_send(env: dict[str, str], emulator: RunningEmulator) -> int:
    """Start a worker, let Discord (the emulator) accept its message but hold the answer
    back, and SIGKILL the worker while it waits: what an OOM kill or a lost host does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    migrated = run_daylock("migrate", "--no-input", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    enqueued = run_daylock("shell", "-c", ENQUEUE_ONE, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    row_id = int(enqueued.stdout.split()[-1])
    emulator.add_fault("delay_after", "/messages$", method="POST", delay=20)
    worker = subprocess.Popen(
        [sys.executable, "-m", "daylock", "worker"],
        env={"PATH": os.environ["PATH"]} | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not emulator.messages(ALLOWED):
            assert worker.poll() is None, "the worker exited before sending"
            assert time.monotonic() < deadline, "the worker never sent the message"
            time.sleep(0.05)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    emulator.emulator.clear_faults()
    [(status, started)] = _sql(
        env, "SELECT status, send_started_at FROM discord_outboxmessage WHERE id = %s", row_id
    )
    assert status == "sending"  # committed before the request left
    assert started is not None
    assert len(emulator.messages(ALLOWED)) == 1
    return row_id


def _posts(emulator: RunningEmulator) -> list[dict[str, object]]:
    return [r for r in emulator.requests(r"/messages$") if r["method"] == "POST"]


def test_a_worker_killed_mid_send_and_restarted_within_the_window_posts_once(
    base_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    row_id = _kill_worker_mid_send(base_env, discord_emulator)
    worker = run_daylock("worker", "--once", env=base_env, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert "scheduled 1 waiting message(s)" in worker.stdout  # the row left sending
    [message] = discord_emulator.messages(ALLOWED)  # Discord deduplicated the repeat
    first, second = _posts(discord_emulator)
    assert first["body"]["nonce"] == second["body"]["nonce"]  # type: ignore[index]
    [(status, discord_id)] = _sql(
        base_env,
        "SELECT status, discord_message_id FROM discord_outboxmessage WHERE id = %s",
        row_id,
    )
    assert (status, discord_id) == ("sent", message["id"])


def test_a_worker_killed_mid_send_and_restarted_after_the_window_never_posts_twice(
    base_env: dict[str, str], discord_emulator: RunningEmulator
) -> None:
    """The reported bug: restarted more than ~5 minutes later, it posted a second time."""
    row_id = _kill_worker_mid_send(base_env, discord_emulator)
    # Six minutes pass, for Daylock and for Discord.
    _sql(
        base_env,
        "UPDATE discord_outboxmessage SET send_started_at = send_started_at - "
        "interval '6 minutes' WHERE id = %s RETURNING id",
        row_id,
    )
    discord_emulator.advance_clock(6 * 60)
    worker = run_daylock("worker", "--once", env=base_env, timeout=120)
    assert worker.returncode == 0, worker.stderr
    assert len(_posts(discord_emulator)) == 1  # never sent again…
    assert len(discord_emulator.messages(ALLOWED)) == 1  # …so one message in the channel
    [line] = _outbox_lines(base_env, "--status", "uncertain")
    assert line.startswith(f"{row_id} uncertain channel_message channel:{ALLOWED} 1 ")
    # A later worker leaves it alone too: only staff can resend or discard it.
    again = run_daylock("worker", "--once", env=base_env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "scheduled 0 waiting message(s)" in again.stdout
    assert len(_posts(discord_emulator)) == 1
