"""The HTTP plumbing every API area of the emulator shares: the parsed request, the
response, Discord's error body and the URL prefixes.

Kept apart from the routes so that OAuth2, the bot API and the control API all read a
request and answer it the same way (one body parser, one error shape), and so that the
WSGI entry point in :mod:`~daylock.testing.discord_emulator.app` is the only code that
touches the WSGI environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl
from wsgiref.types import WSGIEnvironment

from daylock.discord_identity import snowflake

#: Discord's API, as the app's ``DISCORD_API_BASE`` sees it.
API_PREFIX = "/api/v10"
#: The tests' side door; never under ``/api`` so no client can reach it by accident.
CONTROL_PREFIX = "/_emulator"
#: Request bodies larger than this are refused (the emulator is not a file store).
MAX_BODY = 1 << 20

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Request:
    """One request, parsed once: routes never see the WSGI environment."""

    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    #: A dict for JSON objects and forms, a list for JSON arrays, text otherwise.
    body: Any
    #: Where the emulator is mounted (the consent form must post back through it).
    script_name: str = ""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: What the request record shows of a JSON response (None for HTML/empty).
    json_body: Any = None
    #: A 429's X-RateLimit-Scope ("cloudflare" for the ban), for the record and the
    #: invalid-request count.
    scope: str | None = None


#: Discord's ``message`` for the JSON error codes the emulator answers.
DISCORD_MESSAGES = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10011: "Unknown Role",
    40001: "Unauthorized",
    40003: "You are opening direct messages too fast.",
    50001: "Missing Access",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50008: "Cannot send messages in a non-text channel",
    50013: "Missing Permissions",
    50033: "Invalid Recipient(s)",
    50035: "Invalid Form Body",
    50278: "Cannot send messages to this user due to having no mutual guilds",
}


class BadBody(Exception):
    """A body Discord would refuse with 50035 "Invalid Form Body"; raised deep in a route
    and answered once, by the router, with the per-field ``errors``."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid form body")
        self.errors = errors


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data).encode()
    return Response(status, body, [("Content-Type", "application/json"), *headers], json_body=data)


def discord_error(status: int, message: str, code: int, **extra: Any) -> Response:
    """Discord's error body: ``{"message", "code"}`` plus e.g. ``errors``."""
    return json_response(status, {"message": message, "code": code, **extra})


def refusal(status: int, code: int, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Discord's error body for a JSON error code it answers, with its usual message."""
    return json_response(status, {"message": DISCORD_MESSAGES[code], "code": code}, headers)


def cloudflare_ban(*, retry_after: float) -> Response:
    """What a client past the invalid-request threshold gets: Cloudflare's page (error
    1015), a 429 with an HTML body and none of Discord's headers (no ``Via``)."""
    body = (
        b"<!DOCTYPE html>\n<html><head><title>Access denied | discord.com used Cloudflare to "
        b"restrict access</title></head><body><h1>Error 1015</h1><p>You are being rate "
        b"limited</p><p>The owner of this website (discord.com) has banned you temporarily "
        b"from accessing this website.</p></body></html>\n"
    )
    headers = [
        ("Content-Type", "text/html; charset=UTF-8"),
        ("Retry-After", str(max(int(retry_after + 0.999), 1))),
    ]
    return Response(429, body, headers, scope="cloudflare")


def method_not_allowed() -> Response:
    return discord_error(405, "405: Method Not Allowed", 0)


def not_found() -> Response:
    return discord_error(404, "404: Not Found", 0)


def check_snowflakes(**values: object) -> None:
    """Raise :class:`BadBody` (50035) naming each value that is not a snowflake, as
    Discord answers ``/channels/0`` or a 23-digit ``recipient_id``. The rule is
    :func:`daylock.discord_identity.snowflake`, the one Daylock's client applies."""
    errors = {
        name: {
            "_errors": [
                {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{value}" is not snowflake.'}
            ]
        }
        for name, value in values.items()
        if snowflake(value) is None
    }
    if errors:
        raise BadBody(errors)


def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or :class:`BadBody` as Discord answers it."""
    if not isinstance(request.body, dict) or "__invalid_json__" in request.body:
        raise BadBody(
            {"_errors": [{"code": "BASE_TYPE_BAD_JSON", "message": "Expected a JSON object"}]}
        )
    return request.body


def read_request(environ: WSGIEnvironment) -> Request | Response:
    """Parse the WSGI environment; a body over :data:`MAX_BODY` is answered with 413."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = str(environ.get("PATH_INFO", "") or "/")
    query = {
        k: v[0] if len(v) == 1 else v
        for k, v in parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True).items()
    }
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return json_response(413, {"message": "Request entity too large", "code": 40005})
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    body: Any = None
    if raw:
        if content_type.startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                # Kept (not refused) so the route answers as Discord would, and the
                # request record shows what was sent.
                body = {"__invalid_json__": raw.decode("utf-8", "replace")}
        elif content_type.startswith("application/x-www-form-urlencoded"):
            body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            body = raw.decode("utf-8", "replace")
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if content_type:
        headers["Content-Type"] = content_type
    script_name = str(environ.get("SCRIPT_NAME", ""))
    return Request(method, path, query, headers, body, script_name)
