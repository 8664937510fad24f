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


def method_not_allowed() -> Response:
    return discord_error(405, "405: Method Not Allowed", 0)


def not_found() -> Response:
    return discord_error(404, "404: Not Found", 0)


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
