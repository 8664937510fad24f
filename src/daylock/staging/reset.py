"""``daylock reset``: wipe this environment's database and Redis keys, migrate, re-seed.

Two ways to get a freshly seeded database on PostgreSQL:

* **fast** (default): a template database ``<name>_template`` holds a migrated and
  seeded copy. Reset closes connections, ``DROP DATABASE <name> WITH (FORCE)`` (which
  also ends the web server's and worker's sessions; with ``CONN_HEALTH_CHECKS`` they
  reconnect on their next request) and ``CREATE DATABASE <name> TEMPLATE
  <name>_template``: a file-level copy, tens of milliseconds. The template is built
  once (into its own database, migrating *as this environment*, so it carries this
  environment's stamp) and rebuilt only when its **fingerprint** changes; the
  fingerprint is a sha256 over every migration file of every installed app, the seed
  code, the seed options, the environment and the anchor day (the seed places its
  running event around "today", so a template from yesterday is stale). It is stored
  as the template's ``COMMENT ON DATABASE``, and the template is marked
  ``ALLOW_CONNECTIONS false`` so no stray session can block the copy.
* **full** (``--full``): drop, create empty, migrate, seed, in this process.

On SQLite (development) the file is deleted, migrated and seeded.

After the copy the stamp's instance id is renewed (a reset database is a new
instance) and its environment is verified. Redis: only this environment's keys
(``daylock:<env>:*``) are deleted, with SCAN + UNLINK; Django's ``cache.clear()``
would FLUSHDB and take the stamp with it. The stamp key is kept (and re-written if it
went missing).

Every stamp is re-read immediately before anything is dropped
(:func:`daylock.staging.guards.require_database` / ``require_redis``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from daylock import config
from daylock.config import Refusal
from daylock.guardrails import (
    STAMP_TABLE,
    Stamp,
    check_redis_stamp,
    describe_database_url,
    describe_redis_url,
)
from daylock.staging import guards
from daylock.staging.seed import SeedOptions, SeedResult, anchor_for, seed_database

COMMAND = "reset"
TEMPLATE_SUFFIX = "_template"
COMMENT_PREFIX = "daylock reset template"
#: Code whose change must rebuild the template (besides every migration file).
SEED_CODE = ("staging/seed.py", "staging/seed_prizes.py", "staging/bulk.py")
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1

Say = Callable[[str], None]


# --- fingerprint -------------------------------------------------------------------------


def _migration_files() -> list[Path]:
    files: list[Path] = []
    for app in apps.get_app_configs():
        folder = Path(app.path) / "migrations"
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.py")))
    return files


def fingerprint(options: SeedOptions, *, anchor: datetime) -> str:
    """What the template was built from; any change means a rebuild."""
    digest = hashlib.sha256()
    base = Path(config.BASE_DIR)
    for path in _migration_files():
        digest.update(str(path.relative_to(path.parents[2])).encode())
        digest.update(path.read_bytes())
    for name in SEED_CODE:
        path = base / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    for dist in ("django", "procrastinate"):
        with suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    digest.update(options.key().encode())
    digest.update(f"env={config.current().app_env};anchor={anchor.date().isoformat()}".encode())
    return digest.hexdigest()


# --- PostgreSQL administration ---------------------------------------------------------------


def _database_name() -> str:
    return str(connection.settings_dict["NAME"])


def template_name(name: str | None = None) -> str:
    name = _database_name() if name is None else name
    template = name + TEMPLATE_SUFFIX
    if len(template) > MAX_IDENTIFIER:
        raise Refusal(
            COMMAND,
            f"the template name {template!r} is longer than PostgreSQL's {MAX_IDENTIFIER} "
            "characters",
            "use a shorter database name, or `daylock reset --full`",
        )
    return template


@contextmanager
def admin_connection() -> Iterator[Any]:
    """An autocommit session on the server's maintenance database (``postgres``), with
    this environment's credentials: DROP/CREATE DATABASE cannot run inside the target."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params["dbname"] = "postgres"
    params["application_name"] = f"daylock-{config.current().app_env}-reset"
    try:
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError:
        params["dbname"] = "template1"
        conn = psycopg.connect(**params, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _ident(name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(name)


def _sql(text: str, *names: str) -> Any:
    from psycopg import sql

    return sql.SQL(text).format(*(_ident(n) for n in names))


def read_template_comment(admin: Any, template: str) -> str | None:
    """The template's comment (None when the template does not exist; "" if no comment)."""
    row = admin.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
        "WHERE datname = %s",
        (template,),
    ).fetchone()
    return None if row is None else str(row[0])


def parse_comment(comment: str) -> dict[str, str]:
    if not comment.startswith(COMMENT_PREFIX):
        return {}
    fields = {}
    for part in comment[len(COMMENT_PREFIX) :].split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    return fields


@contextmanager
def default_database_named(name: str) -> Iterator[None]:
    """Point Django's default connection at another database of the same server for a
    while (migrate and seed the template with the very same code paths)."""
    original = connection.settings_dict["NAME"]
    connections.close_all()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = original


def _migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0)


# --- plan -----------------------------------------------------------------------------------


@dataclass
class ResetPlan:
    environment: str
    engine: str
    database: str
    database_name: str
    database_stamp: Stamp | None
    redis: str | None
    redis_stamp: guards.RedisStamp | None
    redis_keys: int
    key_prefix: str
    full: bool
    options: SeedOptions
    anchor: datetime
    counts: dict[str, int] = field(default_factory=dict)
    template: str | None = None
    template_state: str | None = None  # "current" | "stale" | "missing"
    fingerprint: str = ""

    @property
    def mode(self) -> str:
        if self.engine == "sqlite":
            return "sqlite"
        return "full" if self.full else "template"

    def lines(self) -> list[str]:
        db = self.database_stamp
        stamp = (
            f"stamped {db.environment} (instance {db.instance_id})"
            if db
            else "empty, not stamped yet"
        )
        held = ", ".join(f"{n} {what}" for what, n in self.counts.items()) or "no Daylock data"
        out = [
            f"Reset plan for environment: {self.environment}",
            f"  database: {self.database} — {stamp}",
            f"    will be DROPPED and re-created (holds {held})",
        ]
        if self.redis:
            rstamp = (
                f"stamped {self.redis_stamp.environment} (instance {self.redis_stamp.instance_id})"
                if self.redis_stamp
                else "not stamped yet"
            )
            out += [
                f"  redis: {self.redis} — {rstamp}",
                f"    will delete {self.redis_keys} keys matching {self.key_prefix}* "
                "(sessions, cache, rate limits); the stamp key is kept",
            ]
        else:
            out.append("  redis: none (in-process cache)")
        if self.mode == "template":
            what = {
                "current": "is current: the database is copied from it",
                "stale": "is out of date: rebuilt first (migrate + seed), then copied",
                "missing": "does not exist yet: built first (migrate + seed), then copied",
            }[self.template_state or "missing"]
            out.append(f"  template: {self.template} {what}")
        elif self.mode == "full":
            out.append("  then: create empty, migrate, seed (--full)")
        else:
            out.append("  then: delete the SQLite file, migrate, seed")
        out.append(
            f"  seed: {self.options.users} users, random seed {self.options.random_seed}, "
            f"anchored at {self.anchor:%Y-%m-%d} 00:00 UTC"
        )
        return out


def _counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for label, model_name in (
        ("users", "accounts.User"),
        ("events", "events.Event"),
        ("progress rows", "events.Progress"),
    ):
        try:
            model = apps.get_model(model_name)
            counts[label] = model._default_manager.count()
        except Exception:  # noqa: S112 - the plan prints what it can; missing tables are fine
            continue
    return counts


def _redis_client() -> Any:
    import redis

    url = config.current().redis_url
    assert url is not None
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=30)


def key_prefix() -> str:
    prefix = str(settings.CACHES["default"].get("KEY_PREFIX") or "")
    if not prefix:
        raise Refusal(
            COMMAND, "the cache has no KEY_PREFIX", "keys cannot be told apart; fix settings"
        )
    return prefix + ":"


def count_keys(client: Any, pattern: str) -> int:
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


def make_plan(*, full: bool, options: SeedOptions) -> ResetPlan:
    """Check policy and stamps, and describe what reset will touch."""
    guards.require_policy(command=COMMAND, capability="seed_and_reset")
    cfg = config.current()
    db_stamp = guards.require_database(command=COMMAND)
    redis_stamp = guards.require_redis(command=COMMAND)
    anchor = anchor_for(timezone.now())  # wall time: the wipe drops any moved clock
    plan = ResetPlan(
        environment=cfg.app_env.value,
        engine=cfg.database_engine,
        database=describe_database_url(cfg.database_url),
        database_name=_database_name(),
        database_stamp=db_stamp,
        redis=describe_redis_url(cfg.redis_url) if cfg.redis_url else None,
        redis_stamp=redis_stamp,
        redis_keys=0,
        key_prefix=key_prefix(),
        full=full,
        options=options,
        anchor=anchor,
        counts=_counts() if db_stamp is not None else {},
    )
    if cfg.redis_url:
        client = _redis_client()
        try:
            plan.redis_keys = count_keys(client, plan.key_prefix + "*")
        finally:
            client.close()
    if plan.mode == "template":
        plan.template = template_name()
        plan.fingerprint = fingerprint(options, anchor=anchor)
        with admin_connection() as admin:
            comment = read_template_comment(admin, plan.template)
        if comment is None:
            plan.template_state = "missing"
        elif parse_comment(comment).get("fingerprint") == plan.fingerprint:
            plan.template_state = "current"
        else:
            plan.template_state = "stale"
    return plan


# --- execution ---------------------------------------------------------------------------------


@dataclass
class ResetResult:
    mode: str
    seconds: float
    template_built: bool = False
    seed: SeedResult | None = None
    redis_keys_deleted: int = 0
    stamp: Stamp | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)


def build_template(plan: ResetPlan, *, say: Say) -> SeedResult:
    """(Re)build ``<name>_template``: create it empty, migrate and seed it as this
    environment (so it is stamped like the database it will become), then record the
    fingerprint and forbid connections to it."""
    assert plan.template is not None
    template = plan.template
    with admin_connection() as admin:
        admin.execute(_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", template))
        admin.execute(_sql("CREATE DATABASE {}", template))
    with default_database_named(template):
        _migrate()
        stamp = guards.read_database_stamp_or_none()
        if stamp is None or stamp.environment != plan.environment:
            raise Refusal(
                COMMAND,
                f"the freshly built template {template} is stamped "
                f"{stamp.environment if stamp else 'nothing'}",
                "this should not happen; run `daylock reset --full` and report it",
            )
        seeded = seed_database(plan.options, anchor=plan.anchor)
    comment = (
        f"{COMMENT_PREFIX}; fingerprint={plan.fingerprint}; environment={plan.environment}; "
        f"built={timezone.now().isoformat(timespec='seconds')}; "
        "managed by `daylock reset`, do not connect"
    )
    with admin_connection() as admin:
        admin.execute(_sql("COMMENT ON DATABASE {} IS ", template) + _literal(comment))
        admin.execute(_sql("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", template))
    say(f"built template {template} ({seeded.summary()})")
    return seeded


def _literal(value: str) -> Any:
    from psycopg import sql

    return sql.Literal(value)


def _renew_stamp(environment: str) -> Stamp:
    """A reset database is a new instance: new instance id and creation time. Refuses if
    the copy carries another environment's stamp (a template from somewhere else)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {STAMP_TABLE} SET instance_id = %s, created_at = %s "  # noqa: S608
            "RETURNING environment, instance_id, created_at",
            [uuid.uuid4(), timezone.now()],
        )
        row = cursor.fetchone()
    if row is None or str(row[0]) != environment:
        raise Refusal(
            COMMAND,
            f"the new database is stamped {row[0] if row else 'nothing'}, not {environment}",
            "drop the template database (it is not this environment's) and reset again",
        )
    return Stamp(str(row[0]), str(row[1]), str(row[2]))


def wipe_redis(*, say: Say) -> int:
    """Delete this environment's keys only; keep (or restore) the stamp."""
    cfg = config.current()
    if not cfg.redis_url:
        from django.core.cache import cache

        cache.clear()  # the in-process cache of this process: nothing else to reach
        return 0
    client = _redis_client()
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=key_prefix() + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    check_redis_stamp(cfg)  # re-stamps if someone flushed the DB meanwhile; refuses a foreign one
    return deleted


def execute(plan: ResetPlan, *, say: Say) -> ResetResult:
    started = time.perf_counter()
    result = ResetResult(mode=plan.mode, seconds=0.0)

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        result.steps.append((name, now - since))
        return now

    t = started
    if plan.mode == "template" and plan.template_state != "current":
        say(f"building template {plan.template} …")
        result.seed = build_template(plan, say=say)
        result.template_built = True
        t = step("build template", t)

    # Re-read both stamps right before anything is dropped.
    guards.require_policy(command=COMMAND, capability="seed_and_reset")
    guards.require_database(command=COMMAND)
    guards.require_redis(command=COMMAND)
    t = step("re-check stamps", t)

    if plan.mode == "sqlite":
        _reset_sqlite()
        t = step("delete file", t)
        _migrate()
        t = step("migrate", t)
        result.seed = seed_database(plan.options, anchor=plan.anchor)
        t = step("seed", t)
    else:
        name = plan.database_name
        connections.close_all()
        with admin_connection() as admin:
            admin.execute(_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name))
            if plan.mode == "template":
                assert plan.template is not None
                admin.execute(_sql("CREATE DATABASE {} TEMPLATE {}", name, plan.template))
            else:
                admin.execute(_sql("CREATE DATABASE {}", name))
        t = step("drop + create", t)
        if plan.mode == "full":
            _migrate()
            t = step("migrate", t)
            result.seed = seed_database(plan.options, anchor=plan.anchor)
            t = step("seed", t)
    if plan.engine == "postgresql":
        result.stamp = _renew_stamp(plan.environment)
    else:
        result.stamp = guards.read_database_stamp_or_none()
    t = step("stamp", t)
    result.redis_keys_deleted = wipe_redis(say=say)
    step("redis", t)
    result.seconds = time.perf_counter() - started
    return result


def _reset_sqlite() -> None:
    path = Path(str(connection.settings_dict["NAME"]))
    connections.close_all()
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()
