"""``daylock worker``: deliver the Discord outbox.

The guards have already run in ``daylock.__main__`` (a worker of one environment can
never deliver another's rows: the database stamp would refuse it, and delivery checks
each row's environment again). The worker then runs the live ``discord-identity`` guard
itself — it is the process that holds the bot token and sends — before touching the
queue: a bot that is production's, or (allowlist) a channel of another guild, stops it
with exit status 2.
"""

from __future__ import annotations

import asyncio
import signal
import time
from argparse import ArgumentParser
from typing import Any

import psycopg
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections
from procrastinate.exceptions import ConnectorException

from daylock import config
from daylock.config import Config, Refusal
from daylock.discord import services
from daylock.discord.client import client_for
from daylock.discord_identity import check_discord_identity
from daylock.guardrails import check_database_stamp, refuse_and_exit
from daylock.stamps import read_database_stamp


class Command(BaseCommand):
    help = "Deliver the Discord outbox (a procrastinate worker on the 'outbox' queue)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="deliver what is waiting, then exit (instead of waiting for more)",
        )
        parser.add_argument(
            "--no-sweep",
            action="store_true",
            help="do not re-schedule rows still queued when the worker starts",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cfg = config.current()
        try:
            # Paced by the limit every worker shares: workers starting together count
            # their start checks against Discord's 50 requests per second too.
            identity = check_discord_identity(cfg, pace=client_for(cfg).pace)
        except Refusal as refusal:
            refuse_and_exit(refusal)
        self.stdout.write(
            f"daylock worker: environment {cfg.app_env.value}, "
            f"delivery mode {cfg.discord_delivery.value}"
        )
        self.stdout.write(f"daylock worker: discord-identity: {identity}")
        if not services.queue_available():
            # The SQLite development default has no queue: deliver what waits, in-process.
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"no queue on this database: delivered {count} waiting message(s)")
            return
        if not options["no_sweep"]:
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"scheduled {count} waiting message(s)")
        self.stdout.flush()

        while True:
            stopped_by_signal = asyncio.run(self._run_worker(once=options["once"]))
            if stopped_by_signal or options["once"]:
                break
            # The worker ended by itself: its database connection failed, typically
            # because `daylock reset` dropped and re-created the database. Wait for
            # the database to come back, re-check its stamp (it must still be this
            # environment's), re-schedule what waits, and carry on.
            self.stderr.write("daylock worker: database connection lost; reconnecting")
            self._wait_for_database(cfg)
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"daylock worker: reconnected; scheduled {count} waiting message(s)")
        self.stdout.write("daylock worker: stopped")

    async def _run_worker(self, *, once: bool) -> bool:
        """Run the procrastinate worker until it ends; True when a signal stopped it."""
        from procrastinate.contrib.django import app

        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
        with app.replace_connector(worker_connector):
            async with app.open_async():
                task = asyncio.create_task(
                    app.run_worker_async(
                        queues=[services.QUEUE],
                        name="daylock-outbox",
                        wait=not once,
                        delete_jobs="successful",
                        install_signal_handlers=False,
                    )
                )

                def on_signal() -> None:
                    stopped.set()
                    task.cancel()  # procrastinate turns this into a graceful stop

                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, on_signal)
                try:
                    await task
                except asyncio.CancelledError:
                    if not stopped.is_set():
                        raise
                except (ConnectorException, psycopg.Error, DatabaseError) as exc:
                    # Lost the database mid-flight (e.g. a reset re-created it): the
                    # caller reconnects after re-checking the stamp.
                    self.stderr.write(f"daylock worker: database error: {type(exc).__name__}")
                finally:
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        loop.remove_signal_handler(sig)
        return stopped.is_set()

    def _wait_for_database(self, cfg: Config, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            connections.close_all()
            try:
                check_database_stamp(cfg)
                stamp, tables = read_database_stamp()
                if stamp is not None:
                    return
                found = f"the database is empty ({tables} tables)"
            except Refusal as refusal:
                if "cannot reach" not in refusal.found:
                    refuse_and_exit(refusal)  # stamped by another environment: stop at once
                found = refusal.found
            if time.monotonic() > deadline:
                refuse_and_exit(
                    Refusal(
                        "database-stamp",
                        f"{found} for {timeout:.0f} s after the worker lost its connection",
                        "check DATABASE_URL and the database server, then restart the worker",
                    )
                )
            time.sleep(1.0)
