"""``daylock reset``: wipe this environment's database and Redis keys, migrate, re-seed.

Two ways to get a freshly seeded database on PostgreSQL:

* **fast** (default): a template database ``<name>_template`` holds a migrated and
  seeded copy. Reset closes connections, ``DROP DATABASE <name> WITH (FORCE)`` (which
  also ends the web server's and worker's sessions; with ``CONN_HEALTH_CHECKS`` they
  reconnect on their next request) and ``CREATE DATABASE <name> TEMPLATE
  <name>_template``: a file-level copy, tens of milliseconds. The template is built
  once (into its own database, migrating *as this environment*, so it carries this
  environment's stamp) and rebuilt only when its **fingerprint** changes; the
  fingerprint is a sha256 over every migration file of every installed app, every
  Daylock module the seed imports directly or through the services it calls, the
  seed options, the environment and the anchor day (the seed places its running
  event around "today", so a template from yesterday is stale). It is stored
  as the template's ``COMMENT ON DATABASE``, and the template is marked
  ``ALLOW_CONNECTIONS false`` so no stray session can block the copy.
* **full** (``--full``): drop, create empty, migrate, seed, in this process.

On SQLite (development) the file is deleted, migrated and seeded.

After the copy the stamp's instance id is renewed (a reset database is a new
instance) and its environment is verified. Redis: only this environment's keys
(``daylock:<env>:*``) are deleted, with SCAN + UNLINK; Django's ``cache.clear()``
would FLUSHDB and take the stamp with it. The stamp key is kept (and re-written if it
went missing).

Identity, not names: the plan records what the live connection reported (database
name, cluster ``system_identifier``, stamp instance); every drop and copy acts on that
verified name, after re-reading the stamp and checking that the maintenance
connection reaches the same cluster. The template is a database too: it is dropped or
copied only after its own stamp has been read and found to be this environment's.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import time
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

from daylock import config, stamps
from daylock.config import Refusal
from daylock.guardrails import check_redis_stamp
from daylock.staging import guards
from daylock.staging.seed import SeedOptions, SeedResult, anchor_for, seed_database
from daylock.stamps import DatabaseIdentity, Stamp

COMMAND = "reset"
TEMPLATE_SUFFIX = "_template"
COMMENT_PREFIX = "daylock reset template"
#: Where the seed starts; every Daylock module it imports, directly or through the
#: services it calls (draws, completions…), shapes the seeded data.
SEED_ENTRY = "daylock.staging.seed"
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


def _daylock_imports(module: str, path: Path) -> set[str]:
    """The ``daylock…`` modules ``module`` imports anywhere in its code (function-local
    imports included: the seed calls services that way)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "daylock" or name.startswith("daylock.")}


def _module_path(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


def seed_modules() -> dict[str, Path]:
    """Every Daylock module whose code can shape the seeded data: the transitive import
    closure of the seed inside the ``daylock`` package (its models, the services it
    calls and whatever they call)."""
    closure: dict[str, Path] = {}
    pending = [SEED_ENTRY]
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        try:
            path = _module_path(name)
        except ModuleNotFoundError:
            path = None  # ``from daylock.x import name`` where name is not a module
        if path is None:
            continue
        closure[name] = path
        pending.extend(_daylock_imports(name, path) - closure.keys())
    return dict(sorted(closure.items()))


def fingerprint(options: SeedOptions, *, anchor: datetime) -> str:
    """What the template was built from; any change means a rebuild."""
    digest = hashlib.sha256()
    for path in _migration_files():
        digest.update(str(path.relative_to(path.parents[2])).encode())
        digest.update(path.read_bytes())
    for name, path in seed_modules().items():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    for dist in ("django", "procrastinate"):
        with suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    digest.update(options.key().encode())
    digest.update(f"env={config.current().app_env};anchor={anchor.date().isoformat()}".encode())
    return digest.hexdigest()


# --- PostgreSQL administration ---------------------------------------------------------------


def template_name(name: str) -> str:
    template = name + TEMPLATE_SUFFIX
    if len(template) > MAX_IDENTIFIER:
        raise Refusal(
            COMMAND,
            f"the template name {template!r} is longer than PostgreSQL's {MAX_IDENTIFIER} "
            "characters",
            "use a shorter database name, or `daylock reset --full`",
        )
    return template


def _connection_params(dbname: str) -> dict[str, Any]:
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    params["dbname"] = dbname
    params["application_name"] = f"daylock-{config.current().app_env}-reset"
    return params


def _system_identifier(conn: Any) -> str:
    row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    return str(row[0])


@contextmanager
def admin_connection(verified: DatabaseIdentity) -> Iterator[Any]:
    """An autocommit session on the server's maintenance database (``postgres``), with
    this environment's credentials: DROP/CREATE DATABASE cannot run inside the target.

    Refused unless it reaches the very cluster the guard verified (a multi-host URL or
    a moved server could otherwise land it elsewhere)."""
    import psycopg

    params = _connection_params("postgres")
    try:
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.OperationalError:
        params["dbname"] = "template1"
        conn = psycopg.connect(**params, autocommit=True)
    try:
        found = _system_identifier(conn)
        if found != verified.system_identifier:
            raise Refusal(
                COMMAND,
                f"the maintenance connection reached cluster {found}, not the verified "
                f"{verified.describe()}",
                "DATABASE_URL must lead to one server; remove extra hosts or redirections",
            )
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
    #: What the live connections reported when the plan was made: every later step
    #: compares with it and acts on its names, never on the settings' text.
    database_state: stamps.DatabaseState
    redis_state: stamps.RedisState | None
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
    def identity(self) -> DatabaseIdentity:
        return self.database_state.identity

    @property
    def database(self) -> str:
        return self.identity.describe()

    @property
    def database_name(self) -> str:
        return self.identity.database

    @property
    def database_stamp(self) -> Stamp | None:
        return self.database_state.stamp

    @property
    def redis(self) -> str | None:
        return self.redis_state.identity.describe() if self.redis_state else None

    @property
    def redis_stamp(self) -> Stamp | None:
        return self.redis_state.stamp if self.redis_state else None

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
    db_state = guards.require_database(command=COMMAND)
    redis_state = guards.require_redis(command=COMMAND)
    anchor = anchor_for(timezone.now())  # wall time: the wipe drops any moved clock
    plan = ResetPlan(
        environment=cfg.app_env.value,
        engine=db_state.identity.engine,
        database_state=db_state,
        redis_state=redis_state,
        redis_keys=0,
        key_prefix=key_prefix(),
        full=full,
        options=options,
        anchor=anchor,
        counts=_counts() if db_state.stamp is not None else {},
    )
    if cfg.redis_url:
        client = _redis_client()
        try:
            plan.redis_keys = count_keys(client, plan.key_prefix + "*")
        finally:
            client.close()
    if plan.mode == "template":
        plan.template = template_name(plan.database_name)
        plan.fingerprint = fingerprint(options, anchor=anchor)
        with admin_connection(plan.identity) as admin:
            plan.template_state = verify_template(admin, plan)
    return plan


def verify_template(admin: Any, plan: ResetPlan) -> str:
    """``missing``, ``current`` or ``stale`` — after proving that an existing template
    is this environment's: made by reset (its comment) *and* stamped so (read inside
    it). A database of that name that is anything else is refused, never dropped."""
    assert plan.template is not None
    template = plan.template
    comment = read_template_comment(admin, template)
    if comment is None:
        return "missing"
    made_by = parse_comment(comment).get("environment")
    if made_by != plan.environment:
        raise Refusal(
            COMMAND,
            f"database {template} exists on cluster {plan.identity.system_identifier} but "
            + (
                f"was made by a reset of {made_by}"
                if made_by
                else "was not made by `daylock reset` (no reset comment)"
            ),
            "find out what it is and rename or drop it yourself, or use `daylock reset --full`",
        )
    state = inspect_template(admin, template)
    if not state.identity.same_place(
        DatabaseIdentity(
            "postgresql", template, "", plan.identity.system_identifier, (), stamps.OWN_SCHEMA
        )
    ):
        raise Refusal(
            COMMAND,
            f"the template connection reached {state.identity.describe()}, not {template}",
            "DATABASE_URL must lead to one server; remove redirections",
        )
    stamps.judge_database(state, environment=plan.environment, guard=COMMAND, settings_name=None)
    if state.stamp is None or stamps.stamp_is_production(state.stamp.environment):
        raise Refusal(
            COMMAND,
            f"template {state.identity.describe()} is not stamped {plan.environment}",
            "drop it by hand after checking what it is, or use `daylock reset --full`",
        )
    fields = parse_comment(comment)
    return "current" if fields.get("fingerprint") == plan.fingerprint else "stale"


def inspect_template(admin: Any, template: str) -> stamps.DatabaseState:
    """Read the template's identity and stamps over a connection of its own (the
    template refuses connections between resets; allowed for this read only)."""
    import psycopg

    admin.execute(_sql("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", template))
    try:
        with (
            psycopg.connect(**_connection_params(template), autocommit=True) as conn,
            conn.cursor() as cursor,
        ):
            return stamps.inspect_postgresql(cursor, daylock_tables=stamps.daylock_table_names())
    finally:
        admin.execute(_sql("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", template))


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
    fingerprint and forbid connections to it. An existing template is dropped only
    after :func:`verify_template` has proven it this environment's, just before."""
    assert plan.template is not None
    template = plan.template
    with admin_connection(plan.identity) as admin:
        if verify_template(admin, plan) != "missing":
            admin.execute(_sql("DROP DATABASE {} WITH (FORCE)", template))
        admin.execute(_sql("CREATE DATABASE {}", template))
    with default_database_named(template):
        _migrate()
        # The settings now name the template: the connection must have reached it.
        state = stamps.verify_database(config.current(), guard=COMMAND)
        if state.stamp is None or not state.identity.same_place(
            DatabaseIdentity(
                "postgresql", template, "", plan.identity.system_identifier, (), "public"
            )
        ):
            raise Refusal(
                COMMAND,
                f"the freshly built template is {state.identity.describe()}, stamped "
                f"{state.stamp.environment if state.stamp else 'nothing'}",
                "this should not happen; run `daylock reset --full` and report it",
            )
        seeded = seed_database(plan.options, anchor=plan.anchor)
    comment = (
        f"{COMMENT_PREFIX}; fingerprint={plan.fingerprint}; environment={plan.environment}; "
        f"built={timezone.now().isoformat(timespec='seconds')}; "
        "managed by `daylock reset`, do not connect"
    )
    with admin_connection(plan.identity) as admin:
        admin.execute(_sql("COMMENT ON DATABASE {} IS ", template) + _literal(comment))
        admin.execute(_sql("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", template))
    say(f"built template {template} ({seeded.summary()})")
    return seeded


def _literal(value: str) -> Any:
    from psycopg import sql

    return sql.Literal(value)


def recheck(plan: ResetPlan) -> stamps.DatabaseState:
    """Right before anything is dropped: policy, stamps, and the very same database
    (cluster, name and stamp instance) as the plan that was shown."""
    guards.require_policy(command=COMMAND, capability="seed_and_reset")
    state = guards.require_database(command=COMMAND)
    redis_state = guards.require_redis(command=COMMAND)
    planned = plan.database_state
    if not state.identity.same_place(planned.identity) or state.stamp != planned.stamp:
        raise Refusal(
            COMMAND,
            f"the database changed since the plan: planned {planned.identity.describe()} "
            f"({planned.stamp}), now {state.identity.describe()} ({state.stamp})",
            "nothing was dropped; run `daylock reset` again and read the new plan",
        )
    if plan.redis_state and (
        redis_state is None or redis_state.identity != plan.redis_state.identity
    ):
        raise Refusal(
            COMMAND,
            f"Redis changed since the plan: planned {plan.redis}, now "
            f"{redis_state.identity.describe() if redis_state else 'none'}",
            "nothing was dropped; run `daylock reset` again",
        )
    return state


def _renew_stamp(plan: ResetPlan) -> Stamp:
    """A reset database is a new instance: new instance id and creation time. Refuses if
    the copy is not the planned database or carries another environment's stamp."""
    state = stamps.reach_database(guard=COMMAND)
    with connection.cursor() as cursor:
        renewed = stamps.renew_database_stamp(cursor)
    if renewed is None or renewed.environment != plan.environment:
        raise Refusal(
            COMMAND,
            f"the new database {state.identity.describe()} is stamped "
            f"{renewed.environment if renewed else 'nothing'}, not {plan.environment}",
            "drop the template database (it is not this environment's) and reset again",
        )
    if not state.identity.same_place(plan.identity):
        raise Refusal(
            COMMAND,
            f"after the copy the connection reached {state.identity.describe()}, "
            f"not {plan.database}",
            "check DATABASE_URL; run `daylock doctor`",
        )
    return renewed


def wipe_redis(plan: ResetPlan | None = None, *, say: Say) -> int:
    """Delete this environment's keys only; keep (or restore) the stamp. With a plan,
    only on the DB it verified (``CLIENT INFO`` on the very connection that deletes)."""
    cfg = config.current()
    if not cfg.redis_url:
        from django.core.cache import cache

        cache.clear()  # the in-process cache of this process: nothing else to reach
        return 0
    client = _redis_client()
    deleted = 0
    try:
        client.connection_pool.max_connections = 1  # one connection: the one checked below
        state = stamps.inspect_redis(client)
        if state.stamp is not None:  # a missing stamp is written again below
            stamps.judge_redis(state, environment=cfg.app_env.value, guard=COMMAND)
        if plan is not None and plan.redis_state and state.identity != plan.redis_state.identity:
            raise Refusal(
                COMMAND,
                f"Redis is {state.identity.describe()}, not the planned {plan.redis}",
                "nothing was deleted; run `daylock reset` again",
            )
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

    verified = recheck(plan)
    t = step("re-check stamps", t)

    if plan.mode == "sqlite":
        _reset_sqlite()
        t = step("delete file", t)
        _migrate()
        t = step("migrate", t)
        result.seed = seed_database(plan.options, anchor=plan.anchor)
        t = step("seed", t)
        result.stamp = guards.require_database(command=COMMAND).stamp
    else:
        name = verified.identity.database  # what the connection reported, not the URL
        connections.close_all()
        with admin_connection(verified.identity) as admin:
            if plan.mode == "template":
                assert plan.template is not None
                if verify_template(admin, plan) != "current":
                    raise Refusal(
                        COMMAND,
                        f"template {plan.template} changed since it was checked",
                        "nothing was dropped; run `daylock reset` again",
                    )
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
        result.stamp = _renew_stamp(plan)
    t = step("stamp", t)
    result.redis_keys_deleted = wipe_redis(plan, say=say)
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
