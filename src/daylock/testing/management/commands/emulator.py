"""``daylock emulator``: serve the Discord API emulator on loopback (tests, the
end-to-end run, or a local staging rehearsal without a Discord application).

Without ``--config`` the emulator's application, bot token, guild and redirect URI are
those of the running configuration, so this environment's Daylock talks to it when its
``DISCORD_API_BASE`` points at ``http://HOST:PORT/api/v10``; its consent page also offers
the seeded test accounts where the policy says ``emulator_offers_seeded_accounts``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daylock import config
from daylock.testing.discord_emulator import ConfigError, EmulatorConfig, serve_forever
from daylock.testing.discord_emulator.django_adapter import configured_for_current


class Command(BaseCommand):
    help = "Serve the Discord API emulator (non-production only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--config",
            default="",
            help="JSON emulator configuration (default: this environment's Discord "
            "application settings and the built-in users)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not config.policy().test_utilities:
            raise CommandError(
                f"the Discord emulator is a test utility and is not available in "
                f"{config.current().app_env.value}; production talks to Discord itself"
            )
        try:
            emulator_config = (
                EmulatorConfig.from_file(options["config"])
                if options["config"]
                else configured_for_current()
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        serve_forever(emulator_config, host=options["host"], port=options["port"])
