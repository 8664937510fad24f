"""``daylock serve``: the production web server (gunicorn), after the guards passed."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve Daylock with gunicorn (guards have already run in this process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("DAYLOCK_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2"))
        )
        parser.add_argument("--timeout", type=int, default=30)
        parser.add_argument("--certfile", default="", help="TLS certificate (optional)")
        parser.add_argument("--keyfile", default="", help="TLS key (optional)")
        parser.add_argument("extra", nargs="*", help="further gunicorn arguments (after --)")

    def handle(self, *args: Any, **options: Any) -> None:
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which(
            "gunicorn"
        )
        if gunicorn is None:
            raise CommandError("gunicorn is not installed; install Daylock with its dependencies")
        argv = [
            gunicorn,
            "daylock.wsgi:application",
            "--bind",
            options["bind"],
            "--workers",
            str(options["workers"]),
            "--worker-class",
            "sync",
            "--timeout",
            str(options["timeout"]),
            "--access-logfile",
            "-",
            "--no-control-socket",
        ]
        if options["certfile"]:
            argv += ["--certfile", options["certfile"], "--keyfile", options["keyfile"]]
        argv += options["extra"]
        sys.stdout.flush()
        os.execv(gunicorn, argv)
