"""``daylock discord sync-members``: refresh guild membership and roles from Discord.

Prints one summary line and exits 0 once the whole member list was read and applied;
exits 1 with what to do when Discord could not list it (nothing is changed then). The
worker runs the same sync every few minutes (``daylock.discord.tasks.sync_members``).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daylock.discord import membership


class Command(BaseCommand):
    help = "Discord: sync-members refreshes guild membership and roles from Discord."

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        sub.add_parser(
            "sync-members",
            help="read the guild's member list and mark who is in it, who left, and roles",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sync-members":
            try:
                result = membership.members_sync(trigger="cli")
            except membership.MemberSyncError as exc:
                raise CommandError(str(exc), returncode=1) from exc
            self.stdout.write(f"sync {result.sync_id} finished: {result.summary()}")
