"""The emulator mounted inside Django (development's ``/_emulator/discord/``), driven
through Django's test client: paths, bodies, redirects and the shared state."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from daylock.testing.discord_emulator.config import PLAYER_USER_ID
from daylock.testing.discord_emulator.django_adapter import shared_emulator

pytestmark = pytest.mark.urls("tests.testing.emulator_urls")
API = "/_emulator/discord/api/v10"
FORM = "application/x-www-form-urlencoded"


def test_mounted_oauth_flow_uses_the_running_configuration() -> None:
    emulator = shared_emulator()
    emulator.reset()
    daylock = settings.DAYLOCK
    assert emulator.config.client_id == daylock.discord_client_id
    assert emulator.config.guild_id == daylock.discord_guild_id
    assert emulator.config.redirect_uris == [daylock.oauth_callback_url]
    client = Client(enforce_csrf_checks=True)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": daylock.discord_client_id,
        "redirect_uri": daylock.oauth_callback_url,
        "scope": "identify guilds.members.read",
        "state": "abc",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    page = client.get(f"{API}/oauth2/authorize?{urlencode(params)}")
    assert page.status_code == 200
    # the consent form posts back to the mounted path (SCRIPT_NAME carries the mount)
    assert f"action='{API}/oauth2/authorize'" in page.content.decode()
    form = urlencode({**params, "action": "authorize", "user_id": PLAYER_USER_ID})
    decision = client.post(f"{API}/oauth2/authorize", form, content_type=FORM)
    assert decision.status_code == 302
    location = decision["Location"]
    assert location.startswith(daylock.oauth_callback_url)
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = client.post(
        f"{API}/oauth2/token",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": daylock.oauth_callback_url,
                "code_verifier": verifier,
                "client_id": daylock.discord_client_id,
                "client_secret": daylock.discord_client_secret,
            }
        ),
        content_type=FORM,
    )
    assert token.status_code == 200, token.content
    me = client.get(f"{API}/users/@me", HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    assert me.json()["id"] == PLAYER_USER_ID
    control = client.get("/_emulator/discord/_emulator/requests").json()
    assert [r["path"] for r in control][-1] == "/api/v10/users/@me"


def test_mounted_bot_route_with_json_body() -> None:
    emulator = shared_emulator()
    emulator.reset()
    client = Client()
    response = client.post(
        f"{API}/channels/710000000000000123/messages",
        data={"content": "hello", "nonce": "n1", "enforce_nonce": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bot {settings.DAYLOCK.discord_bot_token}",
    )
    assert response.status_code == 200, response.content
    assert response["X-RateLimit-Limit"]
    assert emulator.messages()[0]["content"] == "hello"
    denied = client.post(
        f"{API}/channels/710000000000000123/messages", data={}, content_type="application/json"
    )
    assert denied.status_code == 401
