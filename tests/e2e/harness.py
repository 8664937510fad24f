"""Real Daylock instances on loopback for the end-to-end run.

An :class:`Instance` is one environment served the way an operator serves it:
``daylock migrate`` then ``daylock serve`` (gunicorn) and ``daylock worker``, each its
own process group, with its own PostgreSQL database, Redis DB, ``SECRET_KEY``,
``PUBLIC_URL`` port and Discord emulator. Production's emulator stands for Discord
itself, so it runs without Django (``python -m daylock.testing.discord_emulator``):
the ``daylock emulator`` command is a test utility that production refuses.

:func:`production_fingerprint` captures everything of production that staging must
never change: a checksum of every table, every Redis key with its value, and the
request record of production's Discord.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests
from psycopg import sql

from daylock.testing import pytest_plugin
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    MODERATOR_ROLE_ID,
    default_config,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
#: Ports the end-to-end run may use (the matrix uses 18650-18689, bench 18690-18699).
PORT_RANGE = range(18600, 18650)
#: Columns that change on their own while nothing happens (liveness, not data).
VOLATILE_COLUMNS: Mapping[str, frozenset[str]] = {
    "procrastinate_workers": frozenset({"last_heartbeat"}),
}
#: Rows production's own worker writes on its own schedule (periodic jobs such as the
#: outbox sweep, deferred at every cron tick whatever staging does) are not evidence
#: about staging: left out of the checksum. Any other job, e.g. a message delivery,
#: still counts.
_PERIODIC = "SELECT job_id FROM procrastinate_periodic_defers WHERE job_id IS NOT NULL"
ROW_FILTERS: Mapping[str, str] = {
    "procrastinate_periodic_defers": "FALSE",
    # The record of production's own periodic member sync (daylock discord sync-members,
    # every 10 minutes); what a sync changes in accounts still counts.
    "accounts_guildsync": "FALSE",
    "procrastinate_jobs": f"id NOT IN ({_PERIODIC})",
    "procrastinate_events": f"job_id NOT IN ({_PERIODIC})",
}


def free_port(taken: set[int], ports: range = PORT_RANGE) -> int:
    for port in ports:
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def base_environ() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {key: os.environ[key] for key in keep if key in os.environ} | {"PYTHONUNBUFFERED": "1"}


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (production must be served over TLS)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        """Terminate the whole process group (gunicorn workers, emulator threads)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Whatever of its group is left (the leader may have exited first) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def spawn(name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(
        argv,
        env=dict(env),
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, terminated as one
    )
    handle.close()
    return Process(name, popen, log)


def daylock_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "daylock", *args]


def run_daylock(
    *args: str, env: Mapping[str, str], timeout: float = 300, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        daylock_argv(*args),
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )


@dataclass
class Instance:
    """One environment: its settings, its resources and its running processes."""

    name: str  # "production" | "staging"
    env: dict[str, str]
    database_url: str
    database_name: str
    redis_url: str
    public_url: str
    emulator_url: str
    certfile: Path | None = None
    keyfile: Path | None = None
    bind: str = ""
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def verify(self) -> str | bool:
        return str(self.certfile) if self.certfile else True

    def url(self, path: str) -> str:
        return self.public_url + path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return requests.get(self.url(path), verify=self.verify, **kwargs)

    def daylock(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_daylock(*args, env=self.env, timeout=timeout)

    def emulator_requests(self) -> list[dict[str, Any]]:
        response = requests.get(self.emulator_url + "/_emulator/requests", timeout=10)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data

    def emulator_messages(self) -> list[dict[str, Any]]:
        response = requests.get(self.emulator_url + "/_emulator/messages", timeout=10)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data

    def start_emulator(self, logs: Path, port: int) -> None:
        if self.name == "production":
            # Production's "Discord": the emulator alone, configured like the real
            # application (production refuses the `daylock emulator` test utility).
            config = default_config(
                client_id=self.env["DISCORD_CLIENT_ID"],
                client_secret=self.env["DISCORD_CLIENT_SECRET"],
                bot_token=self.env["DISCORD_BOT_TOKEN"],
                guild_id=self.env["DISCORD_GUILD_ID"],
                guild_name="Production Community",
                redirect_uris=[self.public_url + "/auth/discord/callback/"],
            )
            path = logs / f"{self.name}-emulator.json"
            path.write_text(json.dumps(config.to_json()))
            argv = [
                sys.executable,
                "-m",
                "daylock.testing.discord_emulator",
                "--port",
                str(port),
                "--config",
                str(path),
            ]
            env = base_environ()
        else:
            argv = daylock_argv("emulator", "--host", "127.0.0.1", "--port", str(port))
            env = self.env
        self.processes["emulator"] = spawn(f"{self.name}-emulator", argv, env, logs)
        wait_until(
            lambda: requests.get(self.emulator_url + "/_emulator/", timeout=2).ok,
            f"{self.name} emulator",
            self.processes["emulator"],
        )

    def migrate(self) -> None:
        result = self.daylock("migrate", "--no-input")
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: daylock migrate failed:\n{result.stderr[-4000:]}")

    def start_web(self, logs: Path) -> None:
        argv = daylock_argv("serve", "--bind", self.bind, "--workers", "2")
        if self.certfile and self.keyfile:
            argv += ["--certfile", str(self.certfile), "--keyfile", str(self.keyfile)]
        self.processes["web"] = spawn(f"{self.name}-web", argv, self.env, logs)
        wait_until(
            lambda: self.get("/healthz", timeout=2).status_code == 200,
            f"{self.name} web /healthz",
            self.processes["web"],
        )

    def start_worker(self, logs: Path) -> None:
        self.processes["worker"] = spawn(
            f"{self.name}-worker", daylock_argv("worker"), self.env, logs
        )
        # The worker has no port: it is up when it says so and is still running.
        wait_until(
            lambda: "daylock worker: environment" in self.processes["worker"].tail(200),
            f"{self.name} worker",
            self.processes["worker"],
        )

    def assert_running(self) -> None:
        for process in self.processes.values():
            assert process.alive(), f"{process.name} died:\n{process.tail()}"

    def stop(self) -> None:
        for name in ("web", "worker", "emulator"):
            if name in self.processes:
                self.processes[name].stop()


def wait_until(probe: Any, what: str, process: Process | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(
                f"{what}: process exited with {process.popen.returncode}:\n{process.tail()}"
            )
        try:
            if probe():
                return
        except (requests.RequestException, OSError) as exc:
            last = exc
        time.sleep(0.2)
    tail = process.tail() if process else ""
    raise RuntimeError(f"{what} not ready after {timeout}s (last error: {last}):\n{tail}")


def create_database(label: str) -> tuple[str, str]:
    name = f"daylock_test_e2e_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, f"{pytest_plugin.PG}/{name}"


def drop_database(name: str) -> None:
    """Drop the database and whatever was derived from it (``daylock reset`` keeps a
    ``<name>_template`` copy next to it)."""
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (name, name.replace("_", "\\_") + "\\_%"),
            ).fetchall()
        ]
        for found in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(found))
            )


def build_instance(name: str, ports: set[int], tmp: Path, redis_slot: int) -> Instance:
    """Settings for one environment, as its operator would write them (nothing shared)."""
    web_port, emulator_port = free_port(ports), free_port(ports)
    db_name, db_url = create_database("prod" if name == "production" else "staging")
    redis_url = pytest_plugin.redis_url(redis_slot)
    redis.Redis.from_url(redis_url).flushdb()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    base = (
        pytest_plugin.production_environ()
        if name == "production"
        else pytest_plugin.staging_environ()
    )
    scheme = "https" if name == "production" else "http"
    public_url = f"{scheme}://127.0.0.1:{web_port}"
    env = base_environ() | base
    env |= {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PUBLIC_URL": public_url,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DISCORD_API_BASE": emulator_url + "/api/v10",
        # The emulator's default guild roles decide who is staff.
        "DISCORD_ADMIN_ROLE_IDS": ADMIN_ROLE_ID,
        "DISCORD_MODERATOR_ROLE_IDS": MODERATOR_ROLE_ID,
    }
    instance = Instance(
        name=name,
        env=env,
        database_url=db_url,
        database_name=db_name,
        redis_url=redis_url,
        public_url=public_url,
        emulator_url=emulator_url,
        bind=f"127.0.0.1:{web_port}",
    )
    if name == "production":
        instance.certfile, instance.keyfile = make_certificate(tmp)
    return instance


def start_instance(instance: Instance, logs: Path, emulator_port: int) -> None:
    """Exactly what the README tells an operator: migrate, then serve and run the worker."""
    instance.start_emulator(logs, emulator_port)
    instance.migrate()
    if instance.name == "staging":
        # A staging environment is populated with the seed data set (never production).
        result = instance.daylock("seed")
        if result.returncode != 0:
            raise RuntimeError(f"staging: daylock seed failed:\n{result.stderr[-4000:]}")
    instance.start_web(logs)
    instance.start_worker(logs)


# --- production's fingerprint -------------------------------------------------------------


def table_checksums(database_url: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row's text, sorted) for every table of the database."""
    result: dict[str, tuple[int, str]] = {}
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                ).fetchall()
                if row[0] not in VOLATILE_COLUMNS.get(table, frozenset())
            ]
            row_text = sql.SQL("ROW({})::text").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            )
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
                "FROM (SELECT {} AS r FROM {}.{} WHERE {}) AS rows"
            ).format(
                row_text,
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(ROW_FILTERS.get(table, "TRUE")),
            )
            count, digest = conn.execute(query).fetchone() or (0, "")
            result[f"{schema}.{table}"] = (int(count), str(digest))
    return result


def redis_dump(redis_url: str) -> dict[bytes, bytes | None]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {key: client.dump(key) for key in sorted(client.scan_iter(count=1000))}
    finally:
        client.close()


@dataclass(frozen=True)
class Fingerprint:
    tables: dict[str, tuple[int, str]]
    redis: dict[bytes, bytes | None]
    discord_requests: list[dict[str, Any]]


def only_its_own_identity_checks(recorded: list[dict[str, Any]]) -> bool:
    """Before a run, production's Discord has seen only production's own worker asking
    which bot it is at start (the ``discord-identity`` guard: ``GET /users/@me``)."""
    return all(r["method"] == "GET" and r["path"].endswith("/users/@me") for r in recorded)


def production_fingerprint(production: Instance) -> Fingerprint:
    # Production's worker reads its own guild's member list on its own schedule (the
    # periodic member sync): not evidence about staging. Any other request still counts,
    # a member list of any other guild included.
    own_members = f"/guilds/{production.env['DISCORD_GUILD_ID']}/members"
    return Fingerprint(
        tables=table_checksums(production.database_url),
        # Likewise the rate-limit bookkeeping of production's own Discord client
        # (``…:discord:<bot>:…`` keys, daylock.discord.ratelimits) that those reads update.
        redis={k: v for k, v in redis_dump(production.redis_url).items() if b":discord:" not in k},
        discord_requests=[
            r
            for r in production.emulator_requests()
            if not (r["method"] == "GET" and r["path"].endswith(own_members))
        ],
    )
