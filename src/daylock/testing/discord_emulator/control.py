"""The control API under ``/_emulator/``: what tests in other processes (the end-to-end
run, a browser session, ``curl``) do that in-process tests do by calling
:class:`~daylock.testing.discord_emulator.app.Emulator` methods.

Read the request record and the messages and role changes the bot made, delete a
message (as a moderator would), read the invalid-request count, inject faults, move the
clock, replace the users, show the configuration (secrets masked) and reset.
None of it is recorded, so reading the record never changes it; a bad body raises
:class:`~daylock.testing.discord_emulator.config.ConfigError`, which the router answers
with a 400 that names the problem.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from daylock.testing.discord_emulator.config import ConfigError, EmulatorConfig
from daylock.testing.discord_emulator.faults import Fault
from daylock.testing.discord_emulator.state import EmulatorState
from daylock.testing.discord_emulator.web import API_PREFIX, Request, Response, json_response

#: The index ``GET /_emulator/`` shows (what a person poking at it can do).
_ROUTES = [
    "GET requests",
    "DELETE requests",
    "POST reset",
    "GET/POST/DELETE faults",
    "GET messages",
    "DELETE messages/{id}",
    "GET role-changes",
    "GET invalid-requests",
    "GET config",
    "PUT users",
    "GET/POST clock",
]


def route(*, state: EmulatorState, request: Request, route: str) -> Response:
    """Answer ``/_emulator/{route}`` (``route`` without slashes at either end)."""
    method = request.method
    if route == "" and method == "GET":
        return json_response(
            200, {"emulator": "discord", "api_base": API_PREFIX, "control": _ROUTES}
        )
    if route == "requests":
        if method == "GET":
            path = request.query.get("path")
            return json_response(200, state.requests(path if isinstance(path, str) else None))
        if method == "DELETE":
            state.clear_requests()
            return Response(204)
    if route == "reset" and method == "POST":
        body = request.body
        state.reset(EmulatorConfig.from_json(body) if isinstance(body, dict) and body else None)
        return json_response(200, {"ok": True})
    if route == "faults":
        if method == "GET":
            return json_response(200, [f.to_json() for f in state.faults()])
        if method == "POST":
            items = request.body if isinstance(request.body, list) else [request.body]
            faults = [Fault.from_json(item) for item in items]
            for fault in faults:
                state.add_fault(fault)
            return json_response(201, [f.to_json() for f in faults])
        if method == "DELETE":
            state.clear_faults()
            return Response(204)
    if route == "messages" and method == "GET":
        channel = request.query.get("channel_id")
        return json_response(200, state.messages(channel if isinstance(channel, str) else None))
    if route.startswith("messages/") and method == "DELETE":
        deleted = state.delete_message(route.split("/", 1)[1])
        if deleted is None:
            return json_response(404, {"error": f"no message {route.split('/', 1)[1]}"})
        return Response(204)
    if route == "invalid-requests" and method == "GET":
        return json_response(200, state.invalid_requests())
    if route == "role-changes" and method == "GET":
        return json_response(200, state.role_changes())
    if route == "config" and method == "GET":
        return json_response(200, _masked_config(state=state))
    if route == "users" and method == "PUT":
        state.set_users(request.body)
        with state.lock:
            users = [dataclasses.asdict(u) for u in state.config.users]
        return json_response(200, {"users": users})
    if route == "clock" and method == "GET":
        offset = state.store.clock_offset
        return json_response(200, {"offset_seconds": offset, "now": state.now()})
    if route == "clock" and method == "POST":
        body = request.body if isinstance(request.body, dict) else {}
        try:
            state.advance_clock(float(body.get("advance_seconds", 0)))
        except (TypeError, ValueError):
            raise ConfigError("advance_seconds must be a number") from None
        return json_response(200, {"offset_seconds": state.store.clock_offset})
    return json_response(404, {"error": f"no control route {method} /_emulator/{route}"})


def _masked_config(*, state: EmulatorState) -> dict[str, Any]:
    """The configuration without its credentials: the control API is unauthenticated,
    and a test's log may be published."""
    with state.lock:
        data = state.config.to_json()
    data["client_secret"] = "***"  # noqa: S105
    data["bot_token"] = "***"  # noqa: S105
    for bot in data["bots"]:
        bot["token"] = "***"  # noqa: S105
    return data
