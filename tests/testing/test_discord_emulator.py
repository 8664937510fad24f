"""The Discord emulator over real HTTP: OAuth2 with PKCE, user and member lookups, bot
routes, nonce deduplication, faults, the request record and the control API."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from daylock.testing.discord_emulator import RunningEmulator, default_config, start_emulator
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    ADMIN_USER_ID,
    OUTSIDER_USER_ID,
    PLAYER_ROLE_ID,
    PLAYER_USER_ID,
    WINNER_ROLE_ID,
)

REDIRECT = "http://app.test/auth/discord/callback/"
SCOPE = "identify guilds.members.read"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(emu: RunningEmulator, challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": emu.config.client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-123",
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
        **extra,
    }
    return f"{emu.base_api_url}/oauth2/authorize?{urlencode(params)}"


def callback_params(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(emu: RunningEmulator, user_id: str = PLAYER_USER_ID) -> tuple[str, str]:
    verifier, challenge = pkce()
    location = emu.authorize(authorize_url(emu, challenge), user_id=user_id)
    params = callback_params(location)
    assert params["state"] == "st-123"
    return params["code"], verifier


def exchange(
    emu: RunningEmulator, code: str, verifier: str | None, **overrides: Any
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        **({"code_verifier": verifier} if verifier is not None else {}),
    }
    auth = overrides.pop("auth", (emu.config.client_id, emu.config.client_secret))
    data.update(overrides)
    return requests.post(f"{emu.base_api_url}/oauth2/token", data=data, auth=auth, timeout=5)


def login(emu: RunningEmulator, user_id: str = PLAYER_USER_ID) -> str:
    code, verifier = get_code(emu, user_id)
    response = exchange(emu, code, verifier)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bot(emu: RunningEmulator) -> dict[str, str]:
    return {"Authorization": f"Bot {emu.config.bot_token}"}


# --------------------------------------------------------------------------- OAuth2


def test_consent_page_lists_users_with_authorize_and_cancel(
    discord_emulator: RunningEmulator,
) -> None:
    page = requests.get(authorize_url(discord_emulator, pkce()[1]), timeout=5)
    assert page.status_code == 200
    assert "Authorize" in page.text
    assert "Cancel" in page.text
    for user in default_config().users:
        assert user.id in page.text
        assert user.username in page.text


def test_full_code_flow_with_pkce(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator, ADMIN_USER_ID)
    response = exchange(discord_emulator, code, verifier)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == SCOPE
    assert token["expires_in"] > 0
    assert token["refresh_token"]
    me = requests.get(
        f"{discord_emulator.base_api_url}/users/@me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert me.status_code == 200
    assert me.json()["id"] == ADMIN_USER_ID
    assert me.json()["username"] == "ada"
    assert me.json()["discriminator"] == "0"
    member = requests.get(
        f"{discord_emulator.base_api_url}/users/@me/guilds/{discord_emulator.config.guild_id}/member",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert member.status_code == 200
    assert member.json()["user"]["id"] == ADMIN_USER_ID
    assert ADMIN_ROLE_ID in member.json()["roles"]
    assert member.json()["joined_at"]


def test_client_secret_in_body_is_accepted(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    response = exchange(
        discord_emulator,
        code,
        verifier,
        auth=None,
        client_id=discord_emulator.config.client_id,
        client_secret=discord_emulator.config.client_secret,
    )
    assert response.status_code == 200, response.text


def test_cancel_redirects_with_access_denied(discord_emulator: RunningEmulator) -> None:
    location = discord_emulator.authorize(
        authorize_url(discord_emulator, pkce()[1]), action="cancel"
    )
    params = callback_params(location)
    assert params["error"] == "access_denied"
    assert params["state"] == "st-123"
    assert "code" not in params


def test_unknown_client_id_is_a_400_page(discord_emulator: RunningEmulator) -> None:
    url = authorize_url(discord_emulator, None).replace(
        discord_emulator.config.client_id, "123456789"
    )
    page = requests.get(url, timeout=5, allow_redirects=False)
    assert page.status_code == 400
    assert "client_id" in page.text


def test_unregistered_redirect_uri_is_a_400_page() -> None:
    with start_emulator(default_config(redirect_uris=["http://good.test/cb/"])) as emu:
        page = requests.get(authorize_url(emu, None), timeout=5, allow_redirects=False)
        assert page.status_code == 400
        assert "redirect_uri" in page.text
        ok = emu.authorize(
            authorize_url(emu, None, redirect_uri="http://good.test/cb/"), user_id=PLAYER_USER_ID
        )
        assert ok.startswith("http://good.test/cb/?code=")


def test_invalid_scope_redirects_with_error(discord_emulator: RunningEmulator) -> None:
    location = discord_emulator.authorize(authorize_url(discord_emulator, None, scope="bogus"))
    assert callback_params(location)["error"] == "invalid_scope"


def test_wrong_pkce_verifier_fails(discord_emulator: RunningEmulator) -> None:
    code, _ = get_code(discord_emulator)
    response = exchange(discord_emulator, code, pkce()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_pkce_verifier_fails(discord_emulator: RunningEmulator) -> None:
    code, _ = get_code(discord_emulator)
    response = exchange(discord_emulator, code, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_is_single_use(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    first = exchange(discord_emulator, code, verifier)
    assert first.status_code == 200
    again = exchange(discord_emulator, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # the replay also revoked what the code issued
    me = requests.get(
        f"{discord_emulator.base_api_url}/users/@me",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        timeout=5,
    )
    assert me.status_code == 401


def test_expired_code_fails(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    discord_emulator.advance_clock(discord_emulator.config.code_ttl_seconds + 1)
    response = exchange(discord_emulator, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_code_within_ttl_still_works(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    discord_emulator.advance_clock(discord_emulator.config.code_ttl_seconds - 5)
    assert exchange(discord_emulator, code, verifier).status_code == 200


def test_unknown_code_fails(discord_emulator: RunningEmulator) -> None:
    response = exchange(discord_emulator, "not-a-code", pkce()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_401(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    response = exchange(
        discord_emulator, code, verifier, auth=(discord_emulator.config.client_id, "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    # a failed client authentication does not burn the code
    assert exchange(discord_emulator, code, verifier).status_code == 200


def test_redirect_uri_must_match(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    response = exchange(discord_emulator, code, verifier, redirect_uri="http://evil.test/cb/")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unsupported_grant_type(discord_emulator: RunningEmulator) -> None:
    response = exchange(discord_emulator, "x", None, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_refresh_token_rotates(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    token = exchange(discord_emulator, code, verifier).json()
    data = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    auth = (discord_emulator.config.client_id, discord_emulator.config.client_secret)
    url = f"{discord_emulator.base_api_url}/oauth2/token"
    fresh = requests.post(url, data=data, auth=auth, timeout=5)
    assert fresh.status_code == 200
    assert fresh.json()["access_token"] != token["access_token"]
    assert requests.post(url, data=data, auth=auth, timeout=5).status_code == 400


def test_member_lookup_404_when_not_in_guild(discord_emulator: RunningEmulator) -> None:
    token = login(discord_emulator, OUTSIDER_USER_ID)
    response = requests.get(
        f"{discord_emulator.base_api_url}/users/@me/guilds/{discord_emulator.config.guild_id}/member",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 404
    assert response.json() == {"message": "Unknown Guild", "code": 10004}


def test_bearer_required_and_scope_checked(discord_emulator: RunningEmulator) -> None:
    me = f"{discord_emulator.base_api_url}/users/@me"
    assert requests.get(me, timeout=5).status_code == 401
    assert requests.get(me, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    verifier, challenge = pkce()
    location = discord_emulator.authorize(
        authorize_url(discord_emulator, challenge, scope="identify")
    )
    token = exchange(discord_emulator, callback_params(location)["code"], verifier).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(me, headers=headers, timeout=5).status_code == 200
    member = requests.get(
        f"{me}/guilds/{discord_emulator.config.guild_id}/member", headers=headers, timeout=5
    )
    assert member.status_code == 403


# --------------------------------------------------------------------------- bot routes


def test_bot_token_required(discord_emulator: RunningEmulator) -> None:
    url = f"{discord_emulator.base_api_url}/channels/710000000000000555/messages"
    assert requests.post(url, json={"content": "hi"}, timeout=5).status_code == 401
    wrong = {"Authorization": "Bot wrong-token"}
    assert requests.post(url, json={"content": "hi"}, headers=wrong, timeout=5).status_code == 401
    bearer = {"Authorization": f"Bearer {discord_emulator.config.bot_token}"}
    assert requests.post(url, json={"content": "hi"}, headers=bearer, timeout=5).status_code == 401
    assert discord_emulator.messages() == []


def test_post_message_with_rate_limit_headers(discord_emulator: RunningEmulator) -> None:
    response = requests.post(
        f"{discord_emulator.base_api_url}/channels/710000000000000555/messages",
        json={"content": "Day 3 is open", "allowed_mentions": {"parse": []}},
        headers=bot(discord_emulator),
        timeout=5,
    )
    assert response.status_code == 200
    message = response.json()
    assert message["channel_id"] == "710000000000000555"
    assert message["content"] == "Day 3 is open"
    assert message["author"]["bot"] is True
    for header in (
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset-After",
        "X-RateLimit-Bucket",
    ):
        assert header in response.headers
    stored = discord_emulator.messages("710000000000000555")
    assert [m["id"] for m in stored] == [message["id"]]
    assert stored[0]["allowed_mentions"] == {"parse": []}


def test_empty_and_oversized_messages_rejected(discord_emulator: RunningEmulator) -> None:
    url = f"{discord_emulator.base_api_url}/channels/710000000000000555/messages"
    empty = requests.post(url, json={"content": ""}, headers=bot(discord_emulator), timeout=5)
    assert empty.status_code == 400
    assert empty.json()["code"] == 50006
    huge = requests.post(
        url, json={"content": "x" * 2001}, headers=bot(discord_emulator), timeout=5
    )
    assert huge.status_code == 400
    assert huge.json()["code"] == 50035
    assert discord_emulator.messages() == []


def test_enforce_nonce_returns_the_same_message(discord_emulator: RunningEmulator) -> None:
    url = f"{discord_emulator.base_api_url}/channels/710000000000000555/messages"
    body = {"content": "winner!", "nonce": "outbox-42", "enforce_nonce": True}
    first = requests.post(url, json=body, headers=bot(discord_emulator), timeout=5).json()
    second = requests.post(url, json=body, headers=bot(discord_emulator), timeout=5).json()
    assert first["id"] == second["id"]
    assert len(discord_emulator.messages()) == 1
    # without enforce_nonce a new message is created; in another channel the same
    # sender's nonce still returns the first one (Discord deduplicates per sender)
    requests.post(
        url, json={**body, "enforce_nonce": False}, headers=bot(discord_emulator), timeout=5
    )
    elsewhere = requests.post(
        f"{discord_emulator.base_api_url}/channels/710000000000000556/messages",
        json=body,
        headers=bot(discord_emulator),
        timeout=5,
    ).json()
    assert elsewhere["id"] == first["id"]
    assert len(discord_emulator.messages()) == 2
    # after the nonce window a new message is created again
    discord_emulator.advance_clock(discord_emulator.config.nonce_window_seconds + 1)
    third = requests.post(url, json=body, headers=bot(discord_emulator), timeout=5).json()
    assert third["id"] != first["id"]


def test_dm_channel_is_stable_and_accepts_messages(discord_emulator: RunningEmulator) -> None:
    url = f"{discord_emulator.base_api_url}/users/@me/channels"
    first = requests.post(
        url, json={"recipient_id": PLAYER_USER_ID}, headers=bot(discord_emulator), timeout=5
    )
    assert first.status_code == 200
    channel = first.json()
    assert channel["type"] == 1
    assert channel["recipients"][0]["id"] == PLAYER_USER_ID
    discord_emulator.reset()
    again = requests.post(
        url, json={"recipient_id": PLAYER_USER_ID}, headers=bot(discord_emulator), timeout=5
    )
    assert again.json()["id"] == channel["id"]
    sent = requests.post(
        f"{discord_emulator.base_api_url}/channels/{channel['id']}/messages",
        json={"content": "You won"},
        headers=bot(discord_emulator),
        timeout=5,
    )
    assert sent.status_code == 200
    assert discord_emulator.messages()[0]["dm_recipient_id"] == PLAYER_USER_ID
    unknown = requests.post(
        url, json={"recipient_id": "742000000000000042"}, headers=bot(discord_emulator), timeout=5
    )
    assert unknown.status_code == 400
    assert unknown.json()["code"] == 50033


def test_role_grant_and_removal(discord_emulator: RunningEmulator) -> None:
    guild = discord_emulator.config.guild_id
    api = discord_emulator.base_api_url
    url = f"{api}/guilds/{guild}/members/{PLAYER_USER_ID}/roles/{WINNER_ROLE_ID}"
    headers = {**bot(discord_emulator), "X-Audit-Log-Reason": "prize 7"}
    granted = requests.put(url, headers=headers, timeout=5)
    assert granted.status_code == 204
    assert "X-RateLimit-Bucket" in granted.headers
    assert WINNER_ROLE_ID in discord_emulator.config.user(PLAYER_USER_ID).roles  # type: ignore[union-attr]
    assert requests.delete(url, headers=headers, timeout=5).status_code == 204
    assert WINNER_ROLE_ID not in discord_emulator.config.user(PLAYER_USER_ID).roles  # type: ignore[union-attr]
    changes = discord_emulator.role_changes()
    assert [c["action"] for c in changes] == ["add", "remove"]
    assert changes[0]["reason"] == "prize 7"
    assert requests.put(url, timeout=5).status_code == 401
    outsider = url.replace(PLAYER_USER_ID, OUTSIDER_USER_ID)
    assert requests.put(outsider, headers=headers, timeout=5).json()["code"] == 10007
    bad_role = url.replace(WINNER_ROLE_ID, "799000000000000999")
    assert requests.put(bad_role, headers=headers, timeout=5).json()["code"] == 10011
    bad_guild = url.replace(guild, "799000000000000999")
    assert requests.put(bad_guild, headers=headers, timeout=5).json()["code"] == 10004
    assert PLAYER_ROLE_ID in discord_emulator.config.user(PLAYER_USER_ID).roles  # type: ignore[union-attr]


# --------------------------------------------------------------------------- faults


def test_rate_limit_fault_for_next_n_requests(discord_emulator: RunningEmulator) -> None:
    control = requests.post(
        f"{discord_emulator.control_url}/faults",
        json={
            "kind": "rate_limit",
            "path": r"/channels/\d+/messages",
            "count": 2,
            "retry_after": 0.25,
            "global": True,
        },
        timeout=5,
    )
    assert control.status_code == 201
    url = f"{discord_emulator.base_api_url}/channels/710000000000000555/messages"
    for _ in range(2):
        limited = requests.post(
            url, json={"content": "x"}, headers=bot(discord_emulator), timeout=5
        )
        assert limited.status_code == 429
        assert limited.json() == {
            "message": "You are being rate limited.",
            "retry_after": 0.25,
            "global": True,
        }
        assert limited.headers["Retry-After"] == "1"  # whole seconds, rounded up
        assert limited.headers["X-RateLimit-Global"] == "true"
    # other paths were not affected, and the third request goes through
    dm = requests.post(
        f"{discord_emulator.base_api_url}/users/@me/channels",
        json={"recipient_id": PLAYER_USER_ID},
        headers=bot(discord_emulator),
        timeout=5,
    )
    assert dm.status_code == 200
    assert (
        requests.post(
            url, json={"content": "x"}, headers=bot(discord_emulator), timeout=5
        ).status_code
        == 200
    )
    assert len(discord_emulator.messages()) == 1
    assert [r["fault"] for r in discord_emulator.requests("/messages")] == [
        "rate_limit",
        "rate_limit",
        None,
    ]


def test_error_and_delay_faults(discord_emulator: RunningEmulator) -> None:
    discord_emulator.add_fault("error", "/oauth2/token", status=503)
    code, verifier = get_code(discord_emulator)
    assert exchange(discord_emulator, code, verifier).status_code == 503
    assert exchange(discord_emulator, code, verifier).status_code == 200  # the code was not used
    discord_emulator.add_fault("delay", "/users/@me$", delay=0.3, method="GET")
    started = time.monotonic()
    token = login(discord_emulator)
    me = requests.get(
        f"{discord_emulator.base_api_url}/users/@me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert me.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_invalid_fault_is_rejected(discord_emulator: RunningEmulator) -> None:
    bad = requests.post(
        f"{discord_emulator.control_url}/faults", json={"kind": "explode"}, timeout=5
    )
    assert bad.status_code == 400
    assert "kind" in bad.json()["error"]
    bad_status = requests.post(
        f"{discord_emulator.control_url}/faults", json={"kind": "error", "status": 200}, timeout=5
    )
    assert bad_status.status_code == 400
    assert requests.get(f"{discord_emulator.control_url}/faults", timeout=5).json() == []


# --------------------------------------------------------------------------- record and control


def test_request_record_redacts_secrets_and_is_clearable(discord_emulator: RunningEmulator) -> None:
    code, verifier = get_code(discord_emulator)
    exchange(discord_emulator, code, verifier)
    records = requests.get(f"{discord_emulator.control_url}/requests", timeout=5).json()
    token_call = next(r for r in records if r["path"].endswith("/oauth2/token"))
    assert token_call["method"] == "POST"
    assert token_call["status"] == 200
    assert token_call["headers"]["Authorization"] == "Basic ***"
    assert token_call["body"]["code_verifier"] == "***"
    assert token_call["body"]["grant_type"] == "authorization_code"
    assert token_call["response"]["access_token"]  # responses are kept for debugging
    assert token_call["time"]
    raw = json.dumps(records)
    assert discord_emulator.config.client_secret not in raw
    assert verifier not in raw
    authorize = next(r for r in records if r["method"] == "GET")
    assert authorize["query"]["code_challenge_method"] == "S256"
    assert not any(r["path"].startswith("/_emulator") for r in records)
    assert requests.delete(f"{discord_emulator.control_url}/requests", timeout=5).status_code == 204
    assert requests.get(f"{discord_emulator.control_url}/requests", timeout=5).json() == []


def test_bot_token_redacted_in_record(discord_emulator: RunningEmulator) -> None:
    requests.post(
        f"{discord_emulator.base_api_url}/channels/710000000000000555/messages",
        json={"content": "x"},
        headers=bot(discord_emulator),
        timeout=5,
    )
    (record,) = discord_emulator.requests()
    assert record["headers"]["Authorization"] == "Bot ***"
    assert record["body"] == {"content": "x"}


def test_control_messages_users_reset_and_config(discord_emulator: RunningEmulator) -> None:
    control = discord_emulator.control_url
    requests.post(
        f"{discord_emulator.base_api_url}/channels/710000000000000555/messages",
        json={"content": "hello"},
        headers=bot(discord_emulator),
        timeout=5,
    )
    assert [m["content"] for m in requests.get(f"{control}/messages", timeout=5).json()] == [
        "hello"
    ]
    assert requests.get(f"{control}/messages", params={"channel_id": "1"}, timeout=5).json() == []
    replaced = requests.put(
        f"{control}/users",
        json={"users": [{"id": "42", "username": "solo", "roles": [ADMIN_ROLE_ID]}]},
        timeout=5,
    )
    assert replaced.status_code == 200
    page = requests.get(authorize_url(discord_emulator, None), timeout=5)
    assert "solo" in page.text
    assert "ada" not in page.text
    bad = requests.put(f"{control}/users", json={"people": []}, timeout=5)
    assert bad.status_code == 400
    assert "people" in bad.json()["error"]
    config = requests.get(f"{control}/config", timeout=5).json()
    assert config["client_secret"] == "***"
    assert config["bot_token"] == "***"
    assert requests.post(f"{control}/reset", timeout=5).status_code == 200
    assert requests.get(f"{control}/messages", timeout=5).json() == []
    assert "ada" in requests.get(authorize_url(discord_emulator, None), timeout=5).text
    assert requests.get(f"{control}/nothing", timeout=5).status_code == 404


def test_unknown_api_route_is_404(discord_emulator: RunningEmulator) -> None:
    response = requests.get(f"{discord_emulator.base_api_url}/gateway/bot", timeout=5)
    assert response.status_code == 404


def test_config_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "emulator.json"
    config = default_config(client_id="123", redirect_uris=[REDIRECT])
    path.write_text(json.dumps(config.to_json()))
    from daylock.testing.discord_emulator import EmulatorConfig

    assert EmulatorConfig.from_file(path) == config
    path.write_text(json.dumps({"clinet_id": "1"}))
    with pytest.raises(ValueError, match="clinet_id"):
        EmulatorConfig.from_file(path)


def test_standalone_module_serves_without_django(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "daylock.testing.discord_emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert f"127.0.0.1:{port}/api/v10" in line
        response = requests.get(f"http://127.0.0.1:{port}/_emulator/config", timeout=5)
        assert response.json()["client_id"] == default_config().client_id
    finally:
        process.terminate()
        process.wait(timeout=5)
