"""The emulator itself: state plus a plain WSGI application (stdlib only).

Speaks the parts of Discord's API v10 that Daylock uses, under ``/api/v10``:

* OAuth2 authorization-code flow with PKCE (S256): a consent page at
  ``GET /api/v10/oauth2/authorize`` and the token exchange at ``POST /api/v10/oauth2/token``;
* ``GET /api/v10/users/@me`` and ``GET /api/v10/users/@me/guilds/{guild}/member`` (Bearer);
* bot routes (``Authorization: Bot …``): ``GET /users/@me`` (the bot the token belongs
  to), ``GET /channels/{id}`` (its guild), channel messages (with ``enforce_nonce``
  deduplication over a window measured on the emulator's clock), DM channels, role
  grants and removals, with rate-limit headers.

A control API under ``/_emulator/`` (never under ``/api``) lets tests read the request
record and the created messages, inject faults (429, 5xx, delays before or after the
work is done), move the emulator's clock (``POST /_emulator/clock``: codes, tokens and
the nonce window all run on it), replace the users and reset everything.

One :class:`Emulator` holds all state behind one lock, so it can be served by a threaded
server or mounted inside a Django process.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit
from wsgiref.types import StartResponse, WSGIEnvironment

from daylock.testing.discord_emulator.config import (
    ConfigError,
    EmulatedBot,
    EmulatedUser,
    EmulatorConfig,
    GuildChannel,
    GuildRole,
    default_config,
    parse_users,
)

API_PREFIX = "/api/v10"
CONTROL_PREFIX = "/_emulator"
REQUIRED_SCOPES = frozenset({"identify", "guilds.members.read"})
SUPPORTED_SCOPES = frozenset({"identify", "guilds.members.read", "guilds", "email"})
DISCORD_EPOCH_MS = 1420070400000
#: Request bodies larger than this are refused (the emulator is not a file store).
MAX_BODY = 1 << 20
#: Keys whose values never appear in the request record.
_SECRET_KEYS = {"client_secret", "code_verifier", "refresh_token", "access_token", "token"}

_STATUS_TEXT = {
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
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: What the request record shows of a JSON response (None for HTML/empty).
    json_body: Any = None


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data).encode()
    return Response(status, body, [("Content-Type", "application/json"), *headers], json_body=data)


def discord_error(status: int, message: str, code: int, **extra: Any) -> Response:
    return json_response(status, {"message": message, "code": code, **extra})


def oauth_error(status: int, error: str, description: str) -> Response:
    headers = [("WWW-Authenticate", 'Basic realm="discord"')] if status == 401 else []
    return json_response(status, {"error": error, "error_description": description}, headers)


def html_response(status: int, title: str, body_html: str) -> Response:
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · Discord emulator</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem;background:#313338;color:#dbdee1}"
        ".card{background:#2b2d31;border-radius:8px;padding:1.5rem}"
        "label{display:block;padding:.4rem 0}button{padding:.5rem 1rem;margin:.5rem .5rem 0 0;"
        "border:0;border-radius:4px;cursor:pointer}.authorize{background:#5865f2;color:#fff}"
        ".cancel{background:#4e5058;color:#fff}.note{color:#949ba4;font-size:.9em}</style>"
        f"</head><body><div class='card'><p class='note'>Discord emulator — not the real "
        f"Discord</p><h1>{html.escape(title)}</h1>{body_html}</div></body></html>"
    )
    return Response(status, page.encode(), [("Content-Type", "text/html; charset=utf-8")])


def redirect(location: str) -> Response:
    return Response(302, b"", [("Location", location)])


def add_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Fault:
    """The next ``count`` requests whose path matches ``path`` (a regex) misbehave."""

    #: "rate_limit" | "error" | "delay" (wait, then handle) | "delay_after" (handle, then
    #: wait: the request takes effect, and a client that dies meanwhile never learns it)
    kind: str
    path: str = ".*"
    method: str | None = None
    count: int = 1
    retry_after: float = 1.0
    is_global: bool = False
    status: int = 500
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["global"] = data.pop("is_global")
        return data

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ConfigError("a fault must be a JSON object")
        kinds = {"rate_limit", "error", "delay", "delay_after"}
        aliases = {"429": "rate_limit", "500": "error", "5xx": "error"}
        kind = aliases.get(str(data.get("kind")), str(data.get("kind")))
        if kind not in kinds:
            raise ConfigError(f"fault kind must be one of {', '.join(sorted(kinds))}")
        allowed = {"kind", "path", "method", "count", "retry_after", "global", "status", "delay"}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        try:
            fault = cls(
                kind=kind,
                path=str(data.get("path", ".*")),
                method=(str(data["method"]).upper() if data.get("method") else None),
                count=int(data.get("count", 1)),
                retry_after=float(data.get("retry_after", 1.0)),
                is_global=bool(data.get("global", False)),
                status=int(data.get("status", 500)),
                delay=float(data.get("delay", 0.0)),
            )
            re.compile(fault.path)
        except (TypeError, ValueError, re.error) as exc:
            raise ConfigError(f"invalid fault: {exc}") from None
        if fault.count < 1:
            raise ConfigError("fault count must be at least 1")
        if kind == "error" and not 500 <= fault.status <= 599:
            raise ConfigError("an error fault's status must be 5xx")
        return fault


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    user_id: str
    challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Token:
    user_id: str
    scopes: list[str]
    expires_at: float
    refresh_token: str


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    raw_body: bytes


class Emulator:
    """The emulated Discord: all state, one lock, one WSGI entry point (``__call__``)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self._initial = config or default_config()
        self._lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self, config: EmulatorConfig | None = None) -> None:
        """Forget every code, token, message, fault and recorded request."""
        with self._lock:
            if config is not None:
                self._initial = config
            self.config = EmulatorConfig.from_json(self._initial.to_json())
            self._codes: dict[str, _Code] = {}
            self._tokens: dict[str, _Token] = {}
            self._refresh: dict[str, str] = {}
            self._messages: list[dict[str, Any]] = []
            self._nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
            self._dm_channels: dict[str, dict[str, Any]] = {}
            self._role_changes: list[dict[str, Any]] = []
            self._faults: list[Fault] = []
            self._requests: list[dict[str, Any]] = []
            self._buckets: dict[str, tuple[float, int]] = {}
            self._clock_offset = 0.0
            self._sequence = 0

    def now(self) -> float:
        """The emulator's clock (wall time plus what ``advance_clock`` added)."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += seconds

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """The request record, oldest first; ``path`` filters by regex search."""
        with self._lock:
            return [r for r in self._requests if path is None or re.search(path, r["path"])]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(m)
                for m in self._messages
                if channel_id is None or m["channel_id"] == channel_id
            ]

    def role_changes(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._role_changes)

    def add_fault(self, fault: Fault | dict[str, Any]) -> Fault:
        if not isinstance(fault, Fault):
            fault = Fault.from_json(fault)
        with self._lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_users(self, data: dict[str, Any]) -> None:
        """Replace users and guild settings (keys: users, guild_roles, channels, guild_id,
        guild_name, bots)."""
        allowed = {"users", "guild_roles", "channels", "guild_id", "guild_name", "bots"}
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object with users (and optionally guild_roles)")
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(
                f"unknown keys: {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        partial = EmulatorConfig.from_json(data)
        with self._lock:
            if "users" in data:
                self.config.users = parse_users(data["users"])
            if "guild_roles" in data:
                self.config.guild_roles = partial.guild_roles
            if "channels" in data:
                self.config.channels = partial.channels
            if "guild_id" in data:
                self.config.guild_id = partial.guild_id
            if "guild_name" in data:
                self.config.guild_name = partial.guild_name
            if "bots" in data:
                self.config.bots = partial.bots

    def _snowflake(self) -> str:
        with self._lock:
            self._sequence += 1
            ms = int(self.now() * 1000) - DISCORD_EPOCH_MS
            return str((ms << 22) | (self._sequence & 0x3FFFFF))

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        request = self._read_request(environ)
        if isinstance(request, Response):
            response = request
            record = None
        else:
            record = self._record_start(request)
            response = self._handle(request, environ, record)
            if record is not None:
                record["status"] = response.status
                record["response"] = response.json_body
        reason = _STATUS_TEXT.get(response.status, "Unknown")
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def _read_request(self, environ: WSGIEnvironment) -> _Request | Response:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        query = {
            k: v[0] if len(v) == 1 else v
            for k, v in parse_qs(
                str(environ.get("QUERY_STRING", "")), keep_blank_values=True
            ).items()
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
        return _Request(method, path, query, headers, body, raw)

    def _record_start(self, request: _Request) -> dict[str, Any] | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None  # the control API is not part of the record
        record: dict[str, Any] = {
            "id": 0,
            "time": datetime.fromtimestamp(self.now(), UTC).isoformat(),
            "method": request.method,
            "path": request.path,
            "query": _redact(request.query),
            "headers": _recorded_headers(request.headers),
            "body": _redact(request.body),
            "status": None,
            "response": None,
            "fault": None,
        }
        with self._lock:
            record["id"] = len(self._requests) + 1
            self._requests.append(record)
        return record

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(
        self, request: _Request, environ: WSGIEnvironment, record: dict[str, Any] | None
    ) -> Response:
        path = request.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            try:
                return self._control(request, path[len(CONTROL_PREFIX) :].strip("/"))
            except ConfigError as exc:
                return json_response(400, {"error": str(exc)})
        if not path.startswith(API_PREFIX + "/"):
            return discord_error(404, "404: Not Found", 0)
        fault = self._take_fault(request.method, path)
        answer_after = 0.0
        if fault is not None:
            if record is not None:
                record["fault"] = fault.kind
            if fault.kind == "delay_after":
                answer_after = fault.delay
            else:
                response = self._apply_fault(fault)
                if response is not None:
                    return response
        route = path[len(API_PREFIX) :]
        try:
            response = self._route(request, route, environ)
        except _BadBody as exc:
            response = discord_error(400, "Invalid Form Body", 50035, errors=exc.errors)
        if answer_after:
            time.sleep(answer_after)
        return response

    def _apply_fault(self, fault: Fault) -> Response | None:
        if fault.kind == "delay":
            time.sleep(fault.delay)
            return None
        if fault.kind == "error":
            return discord_error(fault.status, f"{fault.status}: Internal Server Error", 0)
        headers = [
            ("Retry-After", f"{fault.retry_after:g}"),
            ("X-RateLimit-Limit", str(self.config.rate_limit_per_bucket)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset-After", f"{fault.retry_after:.3f}"),
            ("X-RateLimit-Scope", "global" if fault.is_global else "user"),
        ]
        if fault.is_global:
            headers.append(("X-RateLimit-Global", "true"))
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.is_global,
        }
        return json_response(429, body, headers)

    # ------------------------------------------------------------------ routing

    def _route(self, request: _Request, route: str, environ: WSGIEnvironment) -> Response:
        method = request.method
        if route == "/oauth2/authorize":
            if method == "GET":
                return self._authorize_page(request, environ)
            if method == "POST":
                return self._authorize_decision(request)
            return _method_not_allowed()
        if route == "/oauth2/token":
            return self._token(request) if method == "POST" else _method_not_allowed()
        if route == "/users/@me":
            return self._me(request) if method == "GET" else _method_not_allowed()
        match = re.fullmatch(r"/channels/(\d+)", route)
        if match:
            return (
                self._get_channel(request, match[1]) if method == "GET" else _method_not_allowed()
            )
        match = re.fullmatch(r"/users/@me/guilds/(\d+)/member", route)
        if match:
            return self._my_member(request, match[1]) if method == "GET" else _method_not_allowed()
        if route == "/users/@me/channels":
            return self._open_dm(request) if method == "POST" else _method_not_allowed()
        match = re.fullmatch(r"/channels/(\d+)/messages", route)
        if match:
            return (
                self._post_message(request, match[1]) if method == "POST" else _method_not_allowed()
            )
        match = re.fullmatch(r"/guilds/(\d+)/members/(\d+)/roles/(\d+)", route)
        if match:
            if method in {"PUT", "DELETE"}:
                return self._member_role(request, match[1], match[2], match[3])
            return _method_not_allowed()
        return discord_error(404, "404: Not Found", 0)

    # ------------------------------------------------------------------ OAuth2

    def _authorize_params(self, params: dict[str, Any]) -> tuple[dict[str, str], Response | None]:
        """Validate an authorization request; errors that cannot be redirected are pages."""
        p = {k: (v if isinstance(v, str) else v[0]) for k, v in params.items()}
        client_id = p.get("client_id", "")
        redirect_uri = p.get("redirect_uri", "")
        if client_id != self.config.client_id:
            return p, html_response(
                400,
                "Invalid OAuth2 request",
                f"<p>Unknown <code>client_id</code> {html.escape(client_id)!s}. "
                "This emulator only knows its configured application.</p>",
            )
        if not redirect_uri or (
            self.config.redirect_uris and redirect_uri not in self.config.redirect_uris
        ):
            return p, html_response(
                400,
                "Invalid OAuth2 redirect_uri",
                f"<p>The <code>redirect_uri</code> {html.escape(redirect_uri)} is not one of "
                "this application's redirect URIs.</p>",
            )
        state = {"state": p["state"]} if "state" in p else {}
        if p.get("response_type") != "code":
            return p, redirect(
                add_query(
                    redirect_uri,
                    {
                        "error": "unsupported_response_type",
                        "error_description": "response_type must be code",
                        **state,
                    },
                )
            )
        scopes = p.get("scope", "").split()
        bad = [s for s in scopes if s not in SUPPORTED_SCOPES]
        if not scopes or bad:
            return p, redirect(
                add_query(
                    redirect_uri,
                    {
                        "error": "invalid_scope",
                        "error_description": f"Invalid scope(s): {' '.join(bad) or '(none)'}",
                        **state,
                    },
                )
            )
        if p.get("code_challenge") and p.get("code_challenge_method", "plain") != "S256":
            return p, redirect(
                add_query(
                    redirect_uri,
                    {
                        "error": "invalid_request",
                        "error_description": "code_challenge_method must be S256",
                        **state,
                    },
                )
            )
        return p, None

    _CARRIED = (
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "prompt",
    )

    def _authorize_page(self, request: _Request, environ: WSGIEnvironment) -> Response:
        params, error = self._authorize_params(request.query)
        if error is not None:
            return error
        action = html.escape(str(environ.get("SCRIPT_NAME", "")) + request.path)
        hidden = "".join(
            f"<input type='hidden' name='{name}' value='{html.escape(params[name])}'>"
            for name in self._CARRIED
            if name in params
        )
        choices = []
        for index, user in enumerate(self.config.users):
            checked = " checked" if index == 0 else ""
            guild = "member of the server" if user.in_guild else "not in the server"
            choices.append(
                f"<label><input type='radio' name='user_id' value='{html.escape(user.id)}'"
                f" data-username='{html.escape(user.username)}'{checked}> "
                f"<strong>{html.escape(user.global_name or user.username)}</strong> "
                f"@{html.escape(user.username)} <span class='note'>({guild})</span></label>"
            )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
        body = (
            f"<p>An application wants to access your account on "
            f"<strong>{html.escape(self.config.guild_name)}</strong>. It asks for:</p>"
            f"<ul>{scopes}</ul>"
            f"<form method='post' action='{action}'>{hidden}"
            f"<fieldset><legend>Continue as</legend>{''.join(choices)}</fieldset>"
            "<button class='authorize' type='submit' name='action' value='authorize'>"
            "Authorize</button>"
            "<button class='cancel' type='submit' name='action' value='cancel'>Cancel</button>"
            "</form>"
        )
        return html_response(200, "Authorize access to your account", body)

    def _authorize_decision(self, request: _Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        params, error = self._authorize_params(form)
        if error is not None:
            return error
        redirect_uri = params["redirect_uri"]
        state = {"state": params["state"]} if "state" in params else {}
        if form.get("action") == "cancel":
            return redirect(
                add_query(
                    redirect_uri,
                    {
                        "error": "access_denied",
                        "error_description": "The resource owner or authorization server denied "
                        "the request",
                        **state,
                    },
                )
            )
        if form.get("action") != "authorize":
            return html_response(400, "Invalid decision", "<p>Choose Authorize or Cancel.</p>")
        user = self.config.user(str(form.get("user_id", "")))
        if user is None:
            return html_response(400, "Unknown user", "<p>Pick one of the listed users.</p>")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id=params["client_id"],
                redirect_uri=redirect_uri,
                scopes=params.get("scope", "").split(),
                user_id=user.id,
                challenge=params.get("code_challenge") or None,
                expires_at=self.now() + self.config.code_ttl_seconds,
            )
        return redirect(add_query(redirect_uri, {"code": code, **state}))

    def _client_auth(self, request: _Request, form: dict[str, Any]) -> Response | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
                client_id, _, client_secret = decoded.partition(":")
                client_id, client_secret = unquote(client_id), unquote(client_secret)
            except (ValueError, UnicodeDecodeError):
                return oauth_error(401, "invalid_client", "Malformed Basic credentials")
        else:
            client_id = str(form.get("client_id", ""))
            client_secret = str(form.get("client_secret", ""))
        if client_id != self.config.client_id or not secrets.compare_digest(
            client_secret.encode(), self.config.client_secret.encode()
        ):
            return oauth_error(401, "invalid_client", "Client authentication failed")
        return None

    def _token(self, request: _Request) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        if not request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return oauth_error(
                400, "invalid_request", "The body must be application/x-www-form-urlencoded"
            )
        denied = self._client_auth(request, form)
        if denied is not None:
            return denied
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type != "authorization_code":
            return oauth_error(
                400, "unsupported_grant_type", f"Unsupported grant type {grant_type!r}"
            )
        code_value = str(form.get("code", ""))
        with self._lock:
            code = self._codes.get(code_value)
            if code is None:
                return oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
            if code.used:
                # A replayed code also revokes what it issued (RFC 6749 §4.1.2).
                self._tokens = {k: t for k, t in self._tokens.items() if t.user_id != code.user_id}
                return oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
            code.used = True
            if self.now() > code.expires_at:
                return oauth_error(400, "invalid_grant", 'Invalid "code" in request. (expired)')
            if form.get("redirect_uri") != code.redirect_uri:
                return oauth_error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
            if code.challenge is not None:
                verifier = str(form.get("code_verifier", ""))
                if not verifier:
                    return oauth_error(400, "invalid_request", "code_verifier is required")
                if not secrets.compare_digest(s256(verifier), code.challenge):
                    return oauth_error(400, "invalid_grant", "Invalid code_verifier")
            return self._issue(code.user_id, code.scopes)

    def _refresh_grant(self, form: dict[str, Any]) -> Response:
        with self._lock:
            access = self._refresh.pop(str(form.get("refresh_token", "")), None)
            token = self._tokens.pop(access, None) if access else None
            if token is None:
                return oauth_error(400, "invalid_grant", "Invalid refresh_token")
            return self._issue(token.user_id, token.scopes)

    def _issue(self, user_id: str, scopes: list[str]) -> Response:
        access, refresh = secrets.token_urlsafe(30), secrets.token_urlsafe(30)
        ttl = self.config.access_token_ttl_seconds
        with self._lock:
            self._tokens[access] = _Token(user_id, scopes, self.now() + ttl, refresh)
            self._refresh[refresh] = access
        return json_response(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ttl,
                "refresh_token": refresh,
                "scope": " ".join(scopes),
            },
            [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        )

    def _bearer(self, request: _Request, scope: str) -> EmulatedUser | Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return discord_error(401, "401: Unauthorized", 0)
        with self._lock:
            token = self._tokens.get(header[7:].strip())
            if token is None or token.expires_at < self.now():
                return discord_error(401, "401: Unauthorized", 0)
            if scope not in token.scopes:
                return discord_error(403, "Missing Access", 50001)
            user = self.config.user(token.user_id)
        if user is None:  # the user was removed from the configuration
            return discord_error(401, "401: Unauthorized", 0)
        return user

    def _me(self, request: _Request) -> Response:
        if request.headers.get("Authorization", "").startswith("Bot "):
            bot = self._bot_of(request)
            if bot is None:
                return discord_error(401, "401: Unauthorized", 0)
            return json_response(200, bot.user_object(), self._rate_headers("GET /users/@me"))
        user = self._bearer(request, "identify")
        if isinstance(user, Response):
            return user
        return json_response(200, user.user_object())

    def _my_member(self, request: _Request, guild_id: str) -> Response:
        user = self._bearer(request, "guilds.members.read")
        if isinstance(user, Response):
            return user
        if guild_id != self.config.guild_id or not user.in_guild:
            return discord_error(404, "Unknown Guild", 10004)
        return json_response(200, user.member_object())

    # ------------------------------------------------------------------ bot routes

    def _bot_of(self, request: _Request) -> EmulatedBot | None:
        """The bot whose token the request carries (``Authorization: Bot <token>``)."""
        header = request.headers.get("Authorization", "").encode()
        with self._lock:
            tokens = [self.config.bot_token] + [bot.token for bot in self.config.bots]
            for token in tokens:
                if secrets.compare_digest(header, f"Bot {token}".encode()):
                    return self.config.bot_for_token(token)
        return None

    def _bot(self, request: _Request, bucket: str) -> list[tuple[str, str]] | Response:
        if self._bot_of(request) is None:
            return discord_error(401, "401: Unauthorized", 0)
        return self._rate_headers(bucket)

    def _get_channel(self, request: _Request, channel_id: str) -> Response:
        """``GET /channels/{id}``: the channel object, whose ``guild_id`` says its server."""
        headers = self._bot(request, f"GET /channels/{channel_id}")
        if isinstance(headers, Response):
            return headers
        with self._lock:
            dm = next((c for c in self._dm_channels.values() if c["id"] == channel_id), None)
            if dm is not None:
                return json_response(200, dict(dm), headers)
            channel = self.config.channel(channel_id)
        if channel is None:
            return json_response(404, {"message": "Unknown Channel", "code": 10003}, headers)
        body = {
            "id": channel.id,
            "guild_id": channel.guild_id,
            "name": channel.name,
            "type": channel.type,
        }
        return json_response(200, body, headers)

    def _rate_headers(self, bucket: str) -> list[tuple[str, str]]:
        limit = self.config.rate_limit_per_bucket
        window = self.config.rate_limit_reset_seconds
        now = self.now()
        with self._lock:
            reset_at, used = self._buckets.get(bucket, (now + window, 0))
            if now >= reset_at:
                reset_at, used = now + window, 0
            used += 1
            self._buckets[bucket] = (reset_at, used)
        bucket_id = hashlib.sha1(bucket.encode(), usedforsecurity=False).hexdigest()[:16]
        return [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(max(limit - used, 0))),
            ("X-RateLimit-Reset", f"{reset_at:.3f}"),
            ("X-RateLimit-Reset-After", f"{max(reset_at - now, 0):.3f}"),
            ("X-RateLimit-Bucket", bucket_id),
        ]

    def _json_body(self, request: _Request) -> dict[str, Any]:
        if not isinstance(request.body, dict) or "__invalid_json__" in request.body:
            raise _BadBody(
                {"_errors": [{"code": "BASE_TYPE_BAD_JSON", "message": "Expected a JSON object"}]}
            )
        return request.body

    def _dm_channel_id(self, recipient_id: str) -> str:
        digest = hashlib.sha256(f"dm:{recipient_id}".encode()).hexdigest()
        return str(300000000000000000 + int(digest[:14], 16) % 100000000000000000)

    def _open_dm(self, request: _Request) -> Response:
        headers = self._bot(request, "POST /users/@me/channels")
        if isinstance(headers, Response):
            return headers
        body = self._json_body(request)
        recipient = str(body.get("recipient_id", ""))
        user = self.config.user(recipient)
        if user is None:
            return json_response(400, {"message": "Invalid Recipient(s)", "code": 50033}, headers)
        with self._lock:
            channel = self._dm_channels.get(recipient)
            if channel is None:
                channel = {
                    "id": self._dm_channel_id(recipient),
                    "type": 1,
                    "last_message_id": None,
                    "flags": 0,
                    "recipients": [user.user_object()],
                }
                self._dm_channels[recipient] = channel
        return json_response(200, channel, headers)

    def _post_message(self, request: _Request, channel_id: str) -> Response:
        headers = self._bot(request, f"POST /channels/{channel_id}/messages")
        if isinstance(headers, Response):
            return headers
        with self._lock:
            dm = next((c for c in self._dm_channels.values() if c["id"] == channel_id), None)
            channel = None if dm is not None else self.config.channel(channel_id)
            author = self._bot_of(request)
        if dm is None and channel is None:
            return json_response(404, {"message": "Unknown Channel", "code": 10003}, headers)
        assert author is not None  # _bot() accepted the token
        body = self._json_body(request)
        content = body.get("content") or ""
        embeds = body.get("embeds") or []
        if not isinstance(content, str) or len(content) > 2000:
            raise _BadBody(
                {
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                }
            )
        if not content and not embeds:
            return json_response(
                400, {"message": "Cannot send an empty message", "code": 50006}, headers
            )
        nonce = body.get("nonce")
        if nonce is not None:
            nonce = str(nonce)
            if len(nonce) > 25:
                raise _BadBody(
                    {
                        "nonce": {
                            "_errors": [
                                {
                                    "code": "BASE_TYPE_MAX_LENGTH",
                                    "message": "Must be 25 or fewer in length.",
                                }
                            ]
                        }
                    }
                )
        now = self.now()
        with self._lock:
            if nonce is not None and body.get("enforce_nonce"):
                seen = self._nonces.get((channel_id, nonce))
                if seen is not None and now - seen[0] <= self.config.nonce_window_seconds:
                    return json_response(200, _public_message(seen[1]), headers)
            message = {
                "id": self._snowflake(),
                "channel_id": channel_id,
                "type": 0,
                "content": content,
                "embeds": embeds,
                "tts": bool(body.get("tts", False)),
                "nonce": nonce,
                "author": {
                    "id": author.id,
                    "username": author.username,
                    "global_name": None,
                    "avatar": None,
                    "discriminator": "0",
                    "bot": True,
                },
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
                "mentions": [],
                "mention_roles": [],
                "pinned": False,
                # Not part of Discord's response; kept for the control API.
                "allowed_mentions": body.get("allowed_mentions"),
                "dm_recipient_id": (dm["recipients"][0]["id"] if dm else None),
                "guild_id": channel.guild_id if channel is not None else None,
            }
            self._messages.append(message)
            if nonce is not None:
                self._nonces[(channel_id, nonce)] = (now, message)
        return json_response(200, _public_message(message), headers)

    def _member_role(
        self, request: _Request, guild_id: str, user_id: str, role_id: str
    ) -> Response:
        headers = self._bot(request, f"{request.method} /guilds/{guild_id}/members/roles")
        if isinstance(headers, Response):
            return headers
        if guild_id != self.config.guild_id:
            return json_response(404, {"message": "Unknown Guild", "code": 10004}, headers)
        if self.config.guild_roles and not any(r.id == role_id for r in self.config.guild_roles):
            return json_response(404, {"message": "Unknown Role", "code": 10011}, headers)
        with self._lock:
            user = self.config.user(user_id)
            if user is None or not user.in_guild:
                return json_response(404, {"message": "Unknown Member", "code": 10007}, headers)
            if request.method == "PUT" and role_id not in user.roles:
                user.roles.append(role_id)
            elif request.method == "DELETE" and role_id in user.roles:
                user.roles.remove(role_id)
            self._role_changes.append(
                {
                    "action": "add" if request.method == "PUT" else "remove",
                    "guild_id": guild_id,
                    "user_id": user_id,
                    "role_id": role_id,
                    "reason": request.headers.get("X-Audit-Log-Reason"),
                    "time": datetime.fromtimestamp(self.now(), UTC).isoformat(),
                }
            )
        return Response(204, b"", headers)

    # ------------------------------------------------------------------ control API

    def _control(self, request: _Request, route: str) -> Response:
        method = request.method
        if route == "" and method == "GET":
            return json_response(
                200,
                {
                    "emulator": "discord",
                    "api_base": API_PREFIX,
                    "control": [
                        "GET requests",
                        "DELETE requests",
                        "POST reset",
                        "GET/POST/DELETE faults",
                        "GET messages",
                        "GET role-changes",
                        "GET config",
                        "PUT users",
                        "GET/POST clock",
                    ],
                },
            )
        if route == "requests":
            if method == "GET":
                path = request.query.get("path")
                return json_response(200, self.requests(path if isinstance(path, str) else None))
            if method == "DELETE":
                self.clear_requests()
                return Response(204)
        if route == "reset" and method == "POST":
            body = request.body
            self.reset(EmulatorConfig.from_json(body) if isinstance(body, dict) and body else None)
            return json_response(200, {"ok": True})
        if route == "faults":
            if method == "GET":
                return json_response(200, [f.to_json() for f in self.faults()])
            if method == "POST":
                items = request.body if isinstance(request.body, list) else [request.body]
                faults = [Fault.from_json(item) for item in items]
                for fault in faults:
                    self.add_fault(fault)
                return json_response(201, [f.to_json() for f in faults])
            if method == "DELETE":
                self.clear_faults()
                return Response(204)
        if route == "messages" and method == "GET":
            channel = request.query.get("channel_id")
            return json_response(200, self.messages(channel if isinstance(channel, str) else None))
        if route == "role-changes" and method == "GET":
            return json_response(200, self.role_changes())
        if route == "config" and method == "GET":
            with self._lock:
                data = self.config.to_json()
            data["client_secret"] = "***"  # noqa: S105
            data["bot_token"] = "***"  # noqa: S105
            for bot in data["bots"]:
                bot["token"] = "***"  # noqa: S105
            return json_response(200, data)
        if route == "users" and method == "PUT":
            self.set_users(request.body)
            with self._lock:
                users = [dataclasses.asdict(u) for u in self.config.users]
            return json_response(200, {"users": users})
        if route == "clock" and method == "GET":
            return json_response(200, {"offset_seconds": self._clock_offset, "now": self.now()})
        if route == "clock" and method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            try:
                self.advance_clock(float(body.get("advance_seconds", 0)))
            except (TypeError, ValueError):
                raise ConfigError("advance_seconds must be a number") from None
            return json_response(200, {"offset_seconds": self._clock_offset})
        return json_response(404, {"error": f"no control route {method} /_emulator/{route}"})


class _BadBody(Exception):
    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid form body")
        self.errors = errors


def _public_message(message: dict[str, Any]) -> dict[str, Any]:
    hidden = {"allowed_mentions", "dm_recipient_id", "guild_id"}
    return {k: v for k, v in message.items() if k not in hidden}


def _method_not_allowed() -> Response:
    return discord_error(405, "405: Method Not Allowed", 0)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in _SECRET_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


_RECORDED_HEADERS = ("Authorization", "Content-Type", "User-Agent", "X-Audit-Log-Reason", "Accept")


def _recorded_headers(headers: dict[str, str]) -> dict[str, str]:
    recorded = {k: v for k, v in headers.items() if k in _RECORDED_HEADERS}
    auth = recorded.get("Authorization")
    if auth:
        scheme = auth.split(" ", 1)[0]
        recorded["Authorization"] = f"{scheme} ***"
    return recorded


__all__ = [
    "API_PREFIX",
    "CONTROL_PREFIX",
    "REQUIRED_SCOPES",
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "GuildChannel",
    "GuildRole",
]
