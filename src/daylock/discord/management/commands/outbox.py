"""``daylock outbox list [--status S]``: the outbox, one message per line.

Each line starts with the message id: ``id status kind target attempts preview``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daylock.discord import selectors, services
from daylock.discord.models import OutboxStatus


class Command(BaseCommand):
    help = "Outbound Discord messages with their status."

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        listing = sub.add_parser("list", help="one message per line, newest first")
        listing.add_argument("--status", choices=OutboxStatus.values, help="only this status")
        listing.add_argument("--limit", type=int, default=None, help="at most N lines")
        sub.add_parser("sweep", help="schedule every still-queued message again")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            limit = options["limit"]
            if limit is not None and limit < 1:
                raise CommandError("--limit must be at least 1")
            for m in selectors.outbox_list(status=options["status"], limit=limit):
                preview = m.preview.replace("\n", " ")
                self.stdout.write(
                    f"{m.pk} {m.status} {m.kind} {m.target} {m.attempts} {preview}".rstrip()
                )
        elif options["action"] == "sweep":
            count = services.outbox_requeue_waiting()
            self.stdout.write(f"scheduled {count} waiting message(s)")
