"""``daylock worker``: deliver the Discord outbox.

The guards have already run in ``daylock.__main__`` (a worker of one environment can
never deliver another's rows: the database stamp would refuse it, and delivery checks
each row's environment again).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from daylock import config
from daylock.discord import services


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
        self.stdout.write(
            f"daylock worker: environment {cfg.app_env.value}, "
            f"delivery mode {cfg.discord_delivery.value}"
        )
        if not services.queue_available():
            # The SQLite development default has no queue: deliver what waits, in-process.
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"no queue on this database: delivered {count} waiting message(s)")
            return
        if not options["no_sweep"]:
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"scheduled {count} waiting message(s)")
        self.stdout.flush()

        from procrastinate.contrib.django import app

        worker_connector = app.connector.get_worker_connector()  # type: ignore[attr-defined]
        with app.replace_connector(worker_connector):
            app.run_worker(
                queues=[services.QUEUE],
                name="daylock-outbox",
                wait=not options["once"],
                delete_jobs="successful",
                install_signal_handlers=True,
            )
        self.stdout.write("daylock worker: stopped")
