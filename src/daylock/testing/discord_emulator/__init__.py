"""A local stand-in for Discord's API v10 (OAuth2, users, guild members, bot routes).

Used in three ways:

* tests: :func:`start_emulator` (or the ``discord_emulator`` pytest fixture) serves it on
  a free loopback port in a background thread;
* by hand or from the end-to-end run: ``daylock emulator --port P [--config FILE.json]``
  or ``python -m daylock.testing.discord_emulator --port P``;
* development: :func:`django_mount` mounts one in-process emulator at
  ``/_emulator/discord/`` (the development ``DISCORD_API_BASE`` points there).

Layout, one job per module: :mod:`.app` (the WSGI entry point that routes to an area),
:mod:`.oauth` (OAuth2 and the Bearer lookups), :mod:`.bot` (the bot REST routes),
:mod:`.message_body` (a message's content, embeds and mentions as Discord judges them),
:mod:`.control` (``/_emulator/``), :mod:`.faults`, :mod:`.state` (everything remembered,
behind one lock), :mod:`.web` (request/response plumbing), :mod:`.config`, :mod:`.server`
and :mod:`.django_adapter` (how it is served).

Stdlib-only apart from the Django mount (imported lazily) and ``requests`` for the
test helper that plays the user on the consent page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daylock.testing.discord_emulator.app import API_PREFIX, CONTROL_PREFIX, Emulator, Fault
from daylock.testing.discord_emulator.config import (
    ConfigError,
    EmulatedBot,
    EmulatedUser,
    EmulatorConfig,
    GuildChannel,
    GuildRole,
    bot_token_for,
    default_config,
)
from daylock.testing.discord_emulator.server import RunningEmulator, serve_forever, start_emulator

if TYPE_CHECKING:
    from django.urls import URLPattern


def django_mount() -> list[URLPattern]:
    """URL patterns of the in-process emulator (imports Django only when called)."""
    from daylock.testing.discord_emulator.django_adapter import django_mount as mount

    return mount()


__all__ = [
    "API_PREFIX",
    "CONTROL_PREFIX",
    "ConfigError",
    "EmulatedBot",
    "EmulatedUser",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "GuildChannel",
    "GuildRole",
    "RunningEmulator",
    "bot_token_for",
    "default_config",
    "django_mount",
    "serve_forever",
    "start_emulator",
]
