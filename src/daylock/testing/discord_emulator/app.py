"""The emulator as one WSGI application: it reads the request, records it, applies an
injected fault and hands it to the API area that owns the path.

Speaks the parts of Discord's API v10 that Daylock uses, under ``/api/v10``:

* OAuth2 with PKCE and the Bearer lookups (:mod:`.oauth`): the consent page, the token
  exchange, ``GET /users/@me`` and ``GET /users/@me/guilds/{guild}/member``;
* the bot REST routes (:mod:`.bot`): the bot's own user, channels, messages with nonce
  deduplication, DM channels and role grants, refused where Discord refuses them, with
  rate limits enforced (:mod:`.limits`).

Beside ``/api``, at the root, it stands in for Discord's CDN (:mod:`.cdn`): the users'
avatars, unrecorded.

Every API answer is checked against the invalid-request threshold first: past it, a
Cloudflare-style ban (a 429 without JSON) answers everything until it lifts.

The control API under ``/_emulator/`` (:mod:`.control`, never under ``/api``) lets tests
in other processes read the record, inject faults (:mod:`.faults`), move the clock,
replace the users and reset. All state lives in :mod:`.state`, behind one lock, so the
emulator can be served by a threaded server or mounted inside a Django process.

This module only composes: adding a route means editing the area that owns it.
"""

from __future__ import annotations

import time
from wsgiref.types import StartResponse, WSGIEnvironment

from daylock.testing.discord_emulator import bot, cdn, control, oauth
from daylock.testing.discord_emulator.config import (
    ConfigError,
    EmulatorConfig,
    GuildChannel,
    GuildRole,
)
from daylock.testing.discord_emulator.faults import Fault, fault_response
from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import (
    API_PREFIX,
    CONTROL_PREFIX,
    STATUS_TEXT,
    BadBody,
    Request,
    Response,
    cloudflare_ban,
    discord_error,
    json_response,
    not_found,
    read_request,
)

#: The API areas under ``/api/v10``, asked in order. The bot goes first because it
#: claims ``GET /users/@me`` for ``Bot`` tokens only and leaves Bearer ones to OAuth2.
_API_AREAS = (bot.route, oauth.route)


class Emulator(EmulatorState):
    """The emulated Discord: all state, one lock, one WSGI entry point (``__call__``)."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        request = read_request(environ)
        if isinstance(request, Response):
            response = request
        elif cdn.claims(request.path):
            response = cdn.route(state=self, request=request)
        else:
            entry = self.record(request)
            response = self._handle(request, entry)
            if entry is not None:
                entry["status"] = response.status
                entry["response"] = response.json_body
                entry["scope"] = response.scope
                # What Discord counts towards the ban: 401, 403, 429 (not shared).
                self.note_invalid(response.status, response.scope)
        reason = STATUS_TEXT.get(response.status, "Unknown")
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def _handle(self, request: Request, entry: dict[str, object] | None) -> Response:
        path = request.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            try:
                route = path[len(CONTROL_PREFIX) :].strip("/")
                return control.route(state=self, request=request, route=route)
            except ConfigError as exc:
                return json_response(400, {"error": str(exc)})
        if not path.startswith(API_PREFIX + "/"):
            return not_found()
        banned_for = self.banned_for()
        if banned_for > 0:
            # Cloudflare answers before Discord sees anything: no JSON, no rate headers.
            return cloudflare_ban(retry_after=banned_for)
        fault = self.take_fault(request.method, path)
        answer_after = 0.0
        if fault is not None:
            if entry is not None:
                entry["fault"] = fault.kind
            if fault.kind == "delay_after":
                answer_after = fault.delay
            else:
                limit = self.config.rate_limit_per_bucket
                response = fault_response(fault, rate_limit_per_bucket=limit, now=self.now())
                if response is not None:
                    return self._via(response)
        try:
            response = self._route(request, path[len(API_PREFIX) :])
        except BadBody as exc:
            response = discord_error(400, "Invalid Form Body", 50035, errors=exc.errors)
        if answer_after:
            # After the work: the request took effect, but the client hears of it late.
            time.sleep(answer_after)
        return self._via(response)

    @staticmethod
    def _via(response: Response) -> Response:
        """Discord's API answers through Google's front end (``Via: 1.1 google``);
        Cloudflare's ban page does not — clients such as discord.py tell them apart so."""
        if response.scope != "cloudflare":
            response.headers.append(("Via", "1.1 google"))
        return response

    def _route(self, request: Request, route: str) -> Response:
        for area in _API_AREAS:
            response = area(state=self, request=request, route=route)
            if response is not None:
                return response
        return not_found()


__all__ = [
    "API_PREFIX",
    "CONTROL_PREFIX",
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "GuildChannel",
    "GuildRole",
]
