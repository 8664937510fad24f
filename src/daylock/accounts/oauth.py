"""Discord OAuth2 (authorization code + state + PKCE S256) through Authlib's Django client.

Every endpoint comes from ``config.current().discord_api_base``: production and staging
talk to Discord (each with its own application), development and tests to the emulator.
The client is built lazily from the running configuration (never at import time), so a
test that overrides ``settings.DAYLOCK`` gets a client for its emulator.

Everything that can go wrong between "Log in with Discord" and having a profile in hand
is turned into one :class:`LoginFailure` with an HTTP status and a sentence for the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.django_client import OAuth
from django.http import HttpRequest, HttpResponse

from daylock import config

logger = logging.getLogger(__name__)

SCOPES = "identify guilds.members.read"
#: Seconds before a call to Discord is given up (the user is waiting on the callback).
TIMEOUT = 10


class LoginFailure(Exception):
    """Why a login attempt stopped; ``status`` is the HTTP status of the failure page."""

    def __init__(self, kind: str, status: int, message: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {message}" + (f" ({detail})" if detail else ""))
        self.kind = kind
        self.status = status
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class DiscordIdentity:
    """What Discord told us about the user: ``member`` is None when not in the guild."""

    profile: dict[str, Any]
    member: dict[str, Any] | None


@lru_cache(maxsize=8)
def _client_for(api_base: str, client_id: str, client_secret: str) -> Any:
    oauth = OAuth()
    return oauth.register(
        name="discord",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=f"{api_base}/oauth2/authorize",
        access_token_url=f"{api_base}/oauth2/token",
        api_base_url=f"{api_base}/",
        client_kwargs={
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": TIMEOUT,
        },
    )


def discord_client() -> Any:
    """The Authlib client for the running configuration (cached per configuration)."""
    current = config.current()
    return _client_for(
        current.discord_api_base, current.discord_client_id, current.discord_client_secret
    )


def start_login(request: HttpRequest) -> HttpResponse:
    """Redirect to Discord's consent page; Authlib keeps state and the PKCE verifier in
    the session (one entry per attempt, removed when the callback uses it)."""
    redirect: HttpResponse = discord_client().authorize_redirect(
        request, config.current().oauth_callback_url
    )
    return redirect


def finish_login(request: HttpRequest) -> DiscordIdentity:
    """Check the callback, exchange the code and read the user and their guild membership.

    Raises :class:`LoginFailure`; nothing is written to the database here.
    """
    client = discord_client()
    try:
        token = client.authorize_access_token(request)
    except MismatchingStateError:
        raise LoginFailure(
            "state",
            400,
            "This login link has expired or was already used.",
            "the state in the callback matches no login started in this browser",
        ) from None
    except OAuthError as exc:
        if exc.error == "access_denied":
            raise LoginFailure(
                "denied",
                403,
                "You cancelled the login on Discord, so Daylock did not get access to "
                "your account.",
            ) from None
        raise LoginFailure(
            "token",
            400,
            "Discord did not accept this login attempt.",
            f"{exc.error}: {exc.description or ''}".strip(": "),
        ) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _unreachable(exc) from None
    except (requests.HTTPError, ValueError) as exc:
        raise LoginFailure(
            "token", 502, "Discord answered with an error while logging you in.", str(exc)
        ) from None
    if not isinstance(token, dict) or not token.get("access_token"):
        raise LoginFailure("token", 502, "Discord did not return an access token.")
    profile = _api_get(client, "users/@me", token)
    if profile is None or not profile.get("id"):
        raise LoginFailure("profile", 502, "Discord did not return your profile.")
    guild_id = config.current().discord_guild_id
    member = _api_get(client, f"users/@me/guilds/{guild_id}/member", token, missing_ok=True)
    return DiscordIdentity(profile=profile, member=member)


def _api_get(
    client: Any, path: str, token: dict[str, Any], *, missing_ok: bool = False
) -> dict[str, Any] | None:
    try:
        response = client.get(path, token=token)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _unreachable(exc) from None
    if missing_ok and response.status_code == 404:
        return None
    if response.status_code != 200:
        logger.warning("discord %s answered %s: %s", path, response.status_code, response.text)
        retry = " Try again in a moment." if response.status_code == 429 else ""
        raise LoginFailure(
            "api",
            502,
            f"Discord answered with an error (HTTP {response.status_code}).{retry}",
            path,
        )
    try:
        data = response.json()
    except ValueError:
        raise LoginFailure("api", 502, "Discord answered with something unreadable.") from None
    if not isinstance(data, dict):
        raise LoginFailure("api", 502, "Discord answered with something unreadable.")
    return data


def _unreachable(exc: Exception) -> LoginFailure:
    logger.warning("discord unreachable: %s", exc)
    return LoginFailure(
        "unreachable",
        502,
        "Daylock could not reach Discord. Please try again in a moment.",
        type(exc).__name__,
    )
