"""The user's side of Discord: the OAuth2 authorization-code flow with PKCE and the two
lookups a Bearer token allows.

* ``GET /oauth2/authorize``: the consent page (a form to pick the emulated user, and a
  one-click "Log in as …" for each user with a ``quick_login_group``, such as the
  seeded test accounts); ``POST /oauth2/authorize``: its decision, redirected to the
  app's callback;
* ``POST /oauth2/token``: code exchange (client authentication, redirect URI, PKCE
  S256) and refresh;
* ``GET /users/@me`` and ``GET /users/@me/guilds/{guild}/member`` with ``Bearer``.

Errors follow Discord and RFC 6749: a request that cannot be trusted to redirect (unknown
client or redirect URI) is an HTML page; others go back to the callback with ``error``.
Daylock's login relies on every one of these refusals, so each is emulated.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from daylock.testing.discord_emulator.config import EmulatedUser
from daylock.testing.discord_emulator.state import AccessToken, AuthorizationCode, EmulatorState
from daylock.testing.discord_emulator.web import (
    Request,
    Response,
    discord_error,
    json_response,
    method_not_allowed,
)

SUPPORTED_SCOPES = frozenset({"identify", "guilds.members.read", "guilds", "email"})

#: Authorization parameters the consent form posts back unchanged.
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


def route(*, state: EmulatorState, request: Request, route: str) -> Response | None:
    """Answer an OAuth2 or Bearer route; None when ``route`` is not one of them."""
    method = request.method
    if route == "/oauth2/authorize":
        if method == "GET":
            return _authorize_page(state=state, request=request)
        if method == "POST":
            return _authorize_decision(state=state, request=request)
        return method_not_allowed()
    if route == "/oauth2/token":
        return _token(state=state, request=request) if method == "POST" else method_not_allowed()
    if route == "/users/@me":
        return _me(state=state, request=request) if method == "GET" else method_not_allowed()
    match = re.fullmatch(r"/users/@me/guilds/(\d+)/member", route)
    if match:
        if method != "GET":
            return method_not_allowed()
        return _my_member(state=state, request=request, guild_id=match[1])
    return None


# ---------------------------------------------------------------------- responses


def oauth_error(status: int, error: str, description: str) -> Response:
    """RFC 6749's error body (the token endpoint speaks OAuth2, not Discord's errors)."""
    headers = [("WWW-Authenticate", 'Basic realm="discord"')] if status == 401 else []
    return json_response(status, {"error": error, "error_description": description}, headers)


def html_response(status: int, title: str, body_html: str) -> Response:
    """A page styled like Discord's, marked as the emulator so no one mistakes it."""
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · Discord emulator</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem;background:#313338;color:#dbdee1}"
        ".card{background:#2b2d31;border-radius:8px;padding:1.5rem}"
        "label{display:block;padding:.4rem 0}button{padding:.5rem 1rem;margin:.5rem .5rem 0 0;"
        "border:0;border-radius:4px;cursor:pointer}.authorize{background:#5865f2;color:#fff}"
        ".cancel{background:#4e5058;color:#fff}.note{color:#b5bac1;font-size:.9em}"
        "button:focus-visible{outline:3px solid #fff;outline-offset:2px}"
        "fieldset{border:1px solid #4e5058;border-radius:4px;margin:0 0 1rem}"
        ".accounts{list-style:none;padding:0;margin:0}code{overflow-wrap:anywhere}</style>"
        f"</head><body><main class='card'><p class='note'>Discord emulator — not the real "
        f"Discord</p><h1>{html.escape(title)}</h1>{body_html}</main></body></html>"
    )
    return Response(status, page.encode(), [("Content-Type", "text/html; charset=utf-8")])


def redirect(location: str) -> Response:
    return Response(302, b"", [("Location", location)])


def add_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended, keeping the query it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _redirect_error(redirect_uri: str, error: str, description: str, **extra: str) -> Response:
    """An error the app's callback must handle (``extra`` carries its ``state`` back)."""
    return redirect(
        add_query(redirect_uri, {"error": error, "error_description": description, **extra})
    )


# ---------------------------------------------------------------------- authorization


def _authorize_params(
    *, state: EmulatorState, params: dict[str, Any]
) -> tuple[dict[str, str], Response | None]:
    """Validate an authorization request; errors that cannot be redirected are pages."""
    p = {k: (v if isinstance(v, str) else v[0]) for k, v in params.items()}
    client_id = p.get("client_id", "")
    redirect_uri = p.get("redirect_uri", "")
    config = state.config
    if client_id != config.client_id:
        return p, html_response(
            400,
            "Invalid OAuth2 request",
            f"<p>Unknown <code>client_id</code> {html.escape(client_id)!s}. "
            "This emulator only knows its configured application.</p>",
        )
    if not redirect_uri or (config.redirect_uris and redirect_uri not in config.redirect_uris):
        return p, html_response(
            400,
            "Invalid OAuth2 redirect_uri",
            f"<p>The <code>redirect_uri</code> {html.escape(redirect_uri)} is not one of "
            "this application's redirect URIs.</p>",
        )
    carried = {"state": p["state"]} if "state" in p else {}
    if p.get("response_type") != "code":
        return p, _redirect_error(
            redirect_uri, "unsupported_response_type", "response_type must be code", **carried
        )
    scopes = p.get("scope", "").split()
    bad = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if not scopes or bad:
        return p, _redirect_error(
            redirect_uri,
            "invalid_scope",
            f"Invalid scope(s): {' '.join(bad) or '(none)'}",
            **carried,
        )
    if p.get("code_challenge") and p.get("code_challenge_method", "plain") != "S256":
        return p, _redirect_error(
            redirect_uri, "invalid_request", "code_challenge_method must be S256", **carried
        )
    return p, None


def _authorize_page(*, state: EmulatorState, request: Request) -> Response:
    params, error = _authorize_params(state=state, params=request.query)
    if error is not None:
        return error
    action = html.escape(request.script_name + request.path)
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(params[name])}'>"
        for name in _CARRIED
        if name in params
    )
    users = state.config.users
    quick = [user for user in users if user.quick_login_group]
    others = [user for user in users if not user.quick_login_group]
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    body = (
        f"<p>An application wants to access your account on "
        f"<strong>{html.escape(state.config.guild_name)}</strong>. It asks for:</p>"
        f"<ul>{scopes}</ul>"
    )
    if quick:
        body += _quick_logins(quick, action=action, hidden=hidden)
        body += "<h2>Or continue as another user</h2>"
    body += _continue_as(others, action=action, hidden=hidden)
    return html_response(200, "Authorize access to your account", body)


def _quick_logins(users: list[EmulatedUser], *, action: str, hidden: str) -> str:
    """One submit button per user, grouped by heading: one click (or Enter on the
    focused button) authorizes as that user."""
    groups: dict[str, list[str]] = {}
    for user in users:
        note_id = f"note-{html.escape(user.id)}"
        name = html.escape(user.global_name or user.username)
        note = html.escape(user.quick_login_note)
        groups.setdefault(user.quick_login_group, []).append(
            f"<li><button class='authorize' type='submit' name='login_as' "
            f"value='{html.escape(user.id)}' aria-describedby='{note_id}'>"
            f"Log in as {html.escape(user.username)}</button> "
            f"<span class='note' id='{note_id}'>{name}"
            f"{' · ' + note if note else ''}</span></li>"
        )
    fieldsets = "".join(
        f"<fieldset><legend>{html.escape(group)}</legend>"
        f"<ul class='accounts'>{''.join(items)}</ul></fieldset>"
        for group, items in groups.items()
    )
    return (
        "<h2>Log in as a seeded test account</h2>"
        "<p class='note'>The accounts <code>daylock seed</code> creates. What happens after "
        "is the application's decision, as for any Discord user.</p>"
        f"<form method='post' action='{action}'>{hidden}{fieldsets}</form>"
    )


def _continue_as(users: list[EmulatedUser], *, action: str, hidden: str) -> str:
    """The users to pick from with a radio button, then Authorize (or Cancel)."""
    choices = []
    for index, user in enumerate(users):
        checked = " checked" if index == 0 else ""
        guild = "member of the server" if user.in_guild else "not in the server"
        choices.append(
            f"<label><input type='radio' name='user_id' value='{html.escape(user.id)}'"
            f" data-username='{html.escape(user.username)}'{checked}> "
            f"<strong>{html.escape(user.global_name or user.username)}</strong> "
            f"@{html.escape(user.username)} <span class='note'>({guild})</span></label>"
        )
    pick = (
        f"<fieldset><legend>Continue as</legend>{''.join(choices)}</fieldset>"
        "<button class='authorize' type='submit' name='action' value='authorize'>"
        "Authorize</button>"
        if choices
        else ""
    )
    return (
        f"<form method='post' action='{action}'>{hidden}{pick}"
        "<button class='cancel' type='submit' name='action' value='cancel'>Cancel</button>"
        "</form>"
    )


def _authorize_decision(*, state: EmulatorState, request: Request) -> Response:
    form = request.body if isinstance(request.body, dict) else {}
    params, error = _authorize_params(state=state, params=form)
    if error is not None:
        return error
    redirect_uri = params["redirect_uri"]
    carried = {"state": params["state"]} if "state" in params else {}
    # A "Log in as …" button is an Authorize for the user it names.
    decision = "authorize" if "login_as" in form else form.get("action")
    if decision == "cancel":
        return _redirect_error(
            redirect_uri,
            "access_denied",
            "The resource owner or authorization server denied the request",
            **carried,
        )
    if decision != "authorize":
        return html_response(400, "Invalid decision", "<p>Choose Authorize or Cancel.</p>")
    user = state.config.user(str(form.get("login_as", form.get("user_id", ""))))
    if user is None:
        return html_response(400, "Unknown user", "<p>Pick one of the listed users.</p>")
    code = secrets.token_urlsafe(24)
    with state.lock:
        state.store.codes[code] = AuthorizationCode(
            redirect_uri=redirect_uri,
            scopes=params.get("scope", "").split(),
            user_id=user.id,
            challenge=params.get("code_challenge") or None,
            expires_at=state.now() + state.config.code_ttl_seconds,
        )
    return redirect(add_query(redirect_uri, {"code": code, **carried}))


# ---------------------------------------------------------------------- token endpoint


def _client_auth(
    *, state: EmulatorState, request: Request, form: dict[str, Any]
) -> Response | None:
    """None when the client authenticated (Basic, or ``client_id``/``client_secret`` in
    the form, as Discord accepts both); otherwise the 401."""
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
    if client_id != state.config.client_id or not secrets.compare_digest(
        client_secret.encode(), state.config.client_secret.encode()
    ):
        return oauth_error(401, "invalid_client", "Client authentication failed")
    return None


def _token(*, state: EmulatorState, request: Request) -> Response:
    form = request.body if isinstance(request.body, dict) else {}
    if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        return oauth_error(
            400, "invalid_request", "The body must be application/x-www-form-urlencoded"
        )
    denied = _client_auth(state=state, request=request, form=form)
    if denied is not None:
        return denied
    grant_type = form.get("grant_type")
    if grant_type == "refresh_token":
        return _refresh_grant(state=state, form=form)
    if grant_type != "authorization_code":
        return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type {grant_type!r}")
    code_value = str(form.get("code", ""))
    store = state.store
    with state.lock:
        code = store.codes.get(code_value)
        if code is None:
            return oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
        if code.used:
            # A replayed code also revokes what it issued (RFC 6749 §4.1.2).
            store.tokens = {k: t for k, t in store.tokens.items() if t.user_id != code.user_id}
            return oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
        code.used = True
        if state.now() > code.expires_at:
            return oauth_error(400, "invalid_grant", 'Invalid "code" in request. (expired)')
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        if code.challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            if not verifier:
                return oauth_error(400, "invalid_request", "code_verifier is required")
            if not secrets.compare_digest(s256(verifier), code.challenge):
                return oauth_error(400, "invalid_grant", "Invalid code_verifier")
        return _issue(state=state, user_id=code.user_id, scopes=code.scopes)


def _refresh_grant(*, state: EmulatorState, form: dict[str, Any]) -> Response:
    """A refresh token is single-use and retires the access token it was issued with."""
    with state.lock:
        access = state.store.refresh.pop(str(form.get("refresh_token", "")), None)
        token = state.store.tokens.pop(access, None) if access else None
        if token is None:
            return oauth_error(400, "invalid_grant", "Invalid refresh_token")
        return _issue(state=state, user_id=token.user_id, scopes=token.scopes)


def _issue(*, state: EmulatorState, user_id: str, scopes: list[str]) -> Response:
    access, refresh = secrets.token_urlsafe(30), secrets.token_urlsafe(30)
    ttl = state.config.access_token_ttl_seconds
    with state.lock:
        state.store.tokens[access] = AccessToken(user_id, scopes, state.now() + ttl)
        state.store.refresh[refresh] = access
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


# ---------------------------------------------------------------------- Bearer routes


def _bearer(*, state: EmulatorState, request: Request, scope: str) -> EmulatedUser | Response:
    """The user a live Bearer token with ``scope`` belongs to, or Discord's 401/403."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return discord_error(401, "401: Unauthorized", 0)
    with state.lock:
        token = state.store.tokens.get(header[7:].strip())
        if token is None or token.expires_at < state.now():
            return discord_error(401, "401: Unauthorized", 0)
        if scope not in token.scopes:
            return discord_error(403, "Missing Access", 50001)
        user = state.config.user(token.user_id)
    if user is None:  # the user was removed from the configuration
        return discord_error(401, "401: Unauthorized", 0)
    return user


def _me(*, state: EmulatorState, request: Request) -> Response:
    user = _bearer(state=state, request=request, scope="identify")
    if isinstance(user, Response):
        return user
    return json_response(200, user.user_object())


def _my_member(*, state: EmulatorState, request: Request, guild_id: str) -> Response:
    user = _bearer(state=state, request=request, scope="guilds.members.read")
    if isinstance(user, Response):
        return user
    if guild_id != state.config.guild_id or not user.in_guild:
        return discord_error(404, "Unknown Guild", 10004)
    return json_response(200, user.member_object())
