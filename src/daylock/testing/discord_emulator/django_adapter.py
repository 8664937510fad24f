"""Mounting the emulator inside a Django process (development: ``make run`` needs no
Discord application).

``daylock.urls`` mounts :func:`django_mount` at ``config.EMULATOR_MOUNT`` when the
environment policy has ``embedded_emulator``. One emulator state is shared by the whole
process; its application, guild and redirect URI are those of the running configuration,
so the OAuth2 client of :mod:`daylock.accounts.oauth` talks to it unchanged.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from daylock import config
from daylock.testing.discord_emulator.app import Emulator
from daylock.testing.discord_emulator.config import EmulatorConfig, default_config
from daylock.testing.discord_emulator.seeded import seeded_users

_shared: Emulator | None = None
_shared_lock = threading.Lock()


def configured_for_current() -> EmulatorConfig:
    """The default users and guild, with this process's application settings, and the
    seeded test accounts where the policy offers them."""
    current = config.current()
    emulated = default_config(
        client_id=current.discord_client_id,
        client_secret=current.discord_client_secret,
        bot_token=current.discord_bot_token,
        guild_id=current.discord_guild_id,
        redirect_uris=[current.oauth_callback_url],
    )
    if current.policy.emulator_offers_seeded_accounts:
        emulated.users += seeded_users(
            admin_role_ids=current.discord_admin_role_ids,
            moderator_role_ids=current.discord_moderator_role_ids,
        )
    return emulated


def shared_emulator() -> Emulator:
    """The one in-process emulator of this process (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Emulator(configured_for_current())
        return _shared


@csrf_exempt
def emulator_view(request: HttpRequest, rest: str) -> HttpResponse:
    """Hand the Django request to the WSGI emulator with the mount point moved from
    ``PATH_INFO`` to ``SCRIPT_NAME`` and the (already read) body replayed."""
    body = request.body
    environ = dict(request.META)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["SCRIPT_NAME"] = request.META.get("SCRIPT_NAME", "").rstrip("/") + config.EMULATOR_MOUNT
    environ["PATH_INFO"] = "/" + rest
    captured: dict[str, object] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = headers
        return lambda data: None

    chunks = shared_emulator()(environ, start_response)
    status = captured["status"]
    headers = captured["headers"]
    assert isinstance(status, int)
    assert isinstance(headers, list)
    response = HttpResponse(b"".join(chunks), status=status)
    for name, value in headers:
        if name.lower() != "content-length":
            response[name] = value
    return response


def django_mount() -> list[URLPattern]:
    return [re_path(r"^(?P<rest>.*)$", emulator_view, name="discord-emulator")]
