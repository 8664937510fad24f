"""The emulator fails the way Discord fails (issue 17, item 1): one test per behaviour,
each the scenario Discord documents, and — where Discord's documentation shows the
response (``discord_documented/*.json``) — the emulator's answer compared with it field
by field: status, headers, body keys, JSON types and the fixed values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from daylock.testing.discord_emulator import (
    GuildChannel,
    GuildRole,
    RunningEmulator,
    default_config,
)
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    BOT_ROLE_ID,
    DEFAULT_GUILD_ID,
    MODERATOR_ROLE_ID,
    OUTSIDER_USER_ID,
    PLAYER_ROLE_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
    WINNER_ROLE_ID,
    EmulatedBot,
    EmulatedUser,
)

DOCUMENTED = Path(__file__).parent / "discord_documented"
TEXT = "710000000000000001"
HIDDEN = "710000000000000002"
READ_ONLY = "710000000000000003"
VOICE = "710000000000000004"
BUSY = "710000000000000005"
UNKNOWN = "710000000000000099"


def documented(name: str) -> dict[str, Any]:
    return json.loads((DOCUMENTED / f"{name}.json").read_text())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _same_shape(doc: Any, got: Any, where: str) -> list[str]:
    """Discord's error ``errors`` tree: field names differ, the shape may not."""
    if isinstance(doc, dict) and "_errors" in doc:
        if not isinstance(got, dict) or not isinstance(got.get("_errors"), list):
            return [f"{where}: no _errors list in {got!r}"]
        return [
            f"{where}._errors: {item!r} is not {{code: str, message: str}}"
            for item in got["_errors"]
            if not (
                isinstance(item, dict)
                and set(item) == {"code", "message"}
                and all(isinstance(v, str) for v in item.values())
            )
        ]
    if isinstance(doc, dict):
        sample = next(iter(doc.values()))
        if not isinstance(got, dict) or not got:
            return [f"{where}: expected an object, got {got!r}"]
        return [
            p for key, value in got.items() for p in _same_shape(sample, value, f"{where}.{key}")
        ]
    return [] if _kind(doc) == _kind(got) else [f"{where}: {_kind(got)} instead of {_kind(doc)}"]


def assert_matches_documented(response: requests.Response, name: str) -> None:
    """The emulator's answer against Discord's documented one, field by field."""
    doc = documented(name)
    problems: list[str] = []
    if doc["status"] is not None and response.status_code != doc["status"]:
        problems.append(f"status {response.status_code}, documented {doc['status']}")
    for header, example in doc["headers"].items():
        got = response.headers.get(header)
        if got is None:
            problems.append(f"header {header} missing")
        elif header in doc["fixed_headers"]:
            if got.split(";")[0] != example:
                problems.append(f"header {header}: {got!r}, documented {example!r}")
        elif _number(example) and not _number(got):
            problems.append(f"header {header}: {got!r} is not a number like {example!r}")
    for header in doc.get("absent_headers", []):
        if header in response.headers:
            problems.append(f"header {header} present; Discord sends it only on a 429")
    if doc["body"] is not None:
        body = response.json()
        if set(body) != set(doc["body"]):
            problems.append(f"body keys {sorted(body)}, documented {sorted(doc['body'])}")
        for key, example in doc["body"].items():
            if key not in body:
                continue
            if key in doc["fixed_body"] and body[key] != example:
                problems.append(f"body {key}: {body[key]!r}, documented {example!r}")
            elif key == "errors":
                problems += _same_shape(example, body[key], "errors")
            elif _kind(body[key]) != _kind(example):
                problems.append(f"body {key}: {_kind(body[key])}, documented {_kind(example)}")
    assert not problems, f"{name} ({doc['source']}):\n" + "\n".join(problems)


def api(
    emu: RunningEmulator, method: str, path: str, *, token: str | None = None, **kw: Any
) -> Any:
    headers = {"Authorization": f"Bot {token or emu.config.bot_token}", **kw.pop("headers", {})}
    return requests.request(method, emu.base_api_url + path, headers=headers, timeout=5, **kw)


def post(emu: RunningEmulator, channel: str, **body: Any) -> requests.Response:
    return api(emu, "POST", f"/channels/{channel}/messages", json={"content": "hi", **body})


def grant(emu: RunningEmulator, role: str, user: str = PLAYER_USER_ID, **kw: Any) -> Any:
    return api(emu, "PUT", f"/guilds/{DEFAULT_GUILD_ID}/members/{user}/roles/{role}", **kw)


def open_dm(emu: RunningEmulator, user: str) -> requests.Response:
    return api(emu, "POST", "/users/@me/channels", json={"recipient_id": user})


@pytest.fixture
def guild(discord_emulator: RunningEmulator) -> RunningEmulator:
    """The default guild with one channel of each kind Discord refuses differently."""
    discord_emulator.reset(
        default_config(
            channels=[
                GuildChannel(TEXT, "general"),
                GuildChannel(HIDDEN, "staff-only", bot_can_view=False),
                GuildChannel(READ_ONLY, "rules", bot_can_send=False),
                GuildChannel(VOICE, "voice", type=2),
                GuildChannel(BUSY, "busy", shared_limit=2),
            ]
        )
    )
    return discord_emulator


def _code(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


# --- roles: positions and the bot's highest role -------------------------------------


def test_a_role_at_or_above_the_bots_highest_role_is_refused_with_50013(
    guild: RunningEmulator,
) -> None:
    # Player (1) and Event Winner (2) sit below the bot's role (3): granted.
    assert grant(guild, WINNER_ROLE_ID).status_code == 204
    assert grant(guild, PLAYER_ROLE_ID, user=SECOND_PLAYER_USER_ID).status_code == 204
    # Moderator (4), Admin (5), and the bot's own managed role: Missing Permissions.
    for role in (MODERATOR_ROLE_ID, ADMIN_ROLE_ID, BOT_ROLE_ID):
        refused = grant(guild, role)
        assert _code(refused) == (403, 50013), role
        assert refused.json()["message"] == "Missing Permissions"
    assert [c["role_id"] for c in guild.role_changes()] == [WINNER_ROLE_ID, PLAYER_ROLE_ID]
    # Equal to the bot's highest is refused too.
    guild.reset(
        default_config(
            guild_roles=[
                GuildRole(WINNER_ROLE_ID, "Winner", position=3),
                GuildRole(BOT_ROLE_ID, "Bot", position=3, managed=True),
            ]
        )
    )
    assert _code(grant(guild, WINNER_ROLE_ID)) == (403, 50013)


def test_a_bot_without_manage_roles_is_refused_with_50013(guild: RunningEmulator) -> None:
    guild.reset(default_config(bot_can_manage_roles=False))
    assert _code(grant(guild, WINNER_ROLE_ID)) == (403, 50013)


def test_unknown_guild_role_and_member_are_10004_10011_10007(guild: RunningEmulator) -> None:
    other_guild = f"/guilds/799000000000000001/members/{PLAYER_USER_ID}/roles/{WINNER_ROLE_ID}"
    assert _code(api(guild, "PUT", other_guild)) == (404, 10004)
    assert _code(grant(guild, "799000000000000002")) == (404, 10011)
    assert _code(grant(guild, WINNER_ROLE_ID, user=OUTSIDER_USER_ID)) == (404, 10007)


def test_the_directory_lists_roles_with_their_positions(guild: RunningEmulator) -> None:
    roles = api(guild, "GET", f"/guilds/{DEFAULT_GUILD_ID}/roles").json()
    positions = {r["id"]: (r["position"], r["managed"]) for r in roles}
    assert positions[DEFAULT_GUILD_ID] == (0, False)
    assert positions[PLAYER_ROLE_ID] == (1, False)
    assert positions[BOT_ROLE_ID] == (3, True)
    assert positions[ADMIN_ROLE_ID] == (5, False)
    me = api(guild, "GET", "/users/@me").json()
    member = api(guild, "GET", f"/guilds/{DEFAULT_GUILD_ID}/members/{me['id']}").json()
    assert member["roles"] == [BOT_ROLE_ID]


# --- channels: access, permissions, type ----------------------------------------------


def test_channels_refuse_as_discord_does(guild: RunningEmulator) -> None:
    assert post(guild, TEXT).status_code == 200
    assert _code(post(guild, HIDDEN)) == (403, 50001)
    assert _code(api(guild, "GET", f"/channels/{HIDDEN}")) == (403, 50001)
    assert _code(post(guild, READ_ONLY)) == (403, 50013)
    assert api(guild, "GET", f"/channels/{READ_ONLY}").status_code == 200  # it can see it
    assert _code(post(guild, VOICE)) == (400, 50008)
    assert _code(post(guild, UNKNOWN)) == (404, 10003)
    assert [m["channel_id"] for m in guild.messages()] == [TEXT]


def test_error_bodies_have_discords_shape(guild: RunningEmulator) -> None:
    for response in (post(guild, HIDDEN), post(guild, UNKNOWN), grant(guild, ADMIN_ROLE_ID)):
        assert_matches_documented(response, "json_error")


# --- rate limits ----------------------------------------------------------------------


def test_every_answer_carries_the_full_bucket_header_set(guild: RunningEmulator) -> None:
    sent = post(guild, TEXT)
    assert_matches_documented(sent, "rate_limit_headers")
    assert sent.headers["X-RateLimit-Limit"] == "5"
    assert sent.headers["X-RateLimit-Remaining"] == "4"
    assert sent.headers["Via"] == "1.1 google"


def test_a_spent_bucket_answers_429_and_does_nothing(guild: RunningEmulator) -> None:
    answers = [post(guild, TEXT, content=f"m{i}") for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert_matches_documented(answers[5], "rate_limit_user")
    assert 0 < answers[5].json()["retry_after"] <= 1.0
    assert len(guild.messages()) == 5
    # Buckets count per channel (the major parameter); the hash names the route.
    other = post(guild, BUSY, content="elsewhere")
    assert other.status_code == 200
    assert other.headers["X-RateLimit-Bucket"] == answers[0].headers["X-RateLimit-Bucket"]
    guild.advance_clock(1.0)
    assert post(guild, TEXT, content="next window").status_code == 200


def test_the_global_limit_is_50_requests_per_second_per_bot(guild: RunningEmulator) -> None:
    guild.reset(default_config(rate_limit_per_bucket=1000))
    answers = [api(guild, "GET", "/users/@me") for _ in range(51)]
    assert [a.status_code for a in answers[:50]] == [200] * 50
    assert_matches_documented(answers[50], "rate_limit_global")
    assert "X-RateLimit-Bucket" not in answers[50].headers
    record = guild.requests("/users/@me")
    assert record[-1]["scope"] == "global"
    # Another bot has its own 50.
    token = "another-bot-token"
    guild.set_users({"bots": [{"token": token, "id": "799000000000000777"}]})
    assert api(guild, "GET", "/users/@me", token=token).status_code == 200


def test_a_busy_resource_answers_429_with_the_shared_scope(guild: RunningEmulator) -> None:
    answers = [post(guild, BUSY, content=f"m{i}") for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_matches_documented(answers[2], "rate_limit_shared")
    assert guild.invalid_requests()["count"] == 0  # Discord does not count these


# --- invalid requests and the Cloudflare ban -------------------------------------------


def test_invalid_requests_are_counted_and_ban_like_cloudflare(guild: RunningEmulator) -> None:
    guild.reset(default_config(invalid_request_limit=4, ban_seconds=30))
    for _ in range(2):
        assert api(guild, "GET", "/users/@me", token="revoked").status_code == 401
    assert _code(grant(guild, ADMIN_ROLE_ID)) == (403, 50013)
    assert guild.invalid_requests()["count"] == 3
    assert guild.invalid_requests()["banned"] is False
    assert _code(grant(guild, ADMIN_ROLE_ID)) == (403, 50013)  # the fourth: banned now
    counted = requests.get(f"{guild.control_url}/invalid-requests", timeout=5).json()
    assert counted["banned"] is True
    assert counted["limit"] == 4
    banned = api(guild, "GET", "/users/@me")  # even a valid request
    assert banned.status_code == 429
    assert banned.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        banned.json()  # not Discord's JSON: Cloudflare's page
    assert "Via" not in banned.headers
    assert "X-RateLimit-Limit" not in banned.headers
    assert 1 <= int(banned.headers["Retry-After"]) <= 30
    assert guild.requests("/users/@me")[-1]["scope"] == "cloudflare"
    guild.advance_clock(31)
    assert api(guild, "GET", "/users/@me").status_code == 200


# --- DMs ------------------------------------------------------------------------------


def test_dms_closed_and_no_mutual_server_are_refused(guild: RunningEmulator) -> None:
    guild.set_users(
        {
            "users": [
                {"id": PLAYER_USER_ID, "username": "pat"},
                {"id": SECOND_PLAYER_USER_ID, "username": "sam", "accepts_dms": False},
                {"id": OUTSIDER_USER_ID, "username": "olly", "in_guild": False},
            ]
        }
    )
    channels = {
        u: open_dm(guild, u).json()["id"]
        for u in (PLAYER_USER_ID, SECOND_PLAYER_USER_ID, OUTSIDER_USER_ID)
    }
    assert post(guild, channels[PLAYER_USER_ID]).status_code == 200
    closed = post(guild, channels[SECOND_PLAYER_USER_ID])
    assert _code(closed) == (403, 50007)
    assert closed.json()["message"] == "Cannot send messages to this user"
    assert _code(post(guild, channels[OUTSIDER_USER_ID])) == (403, 50278)
    assert [m["dm_recipient_id"] for m in guild.messages()] == [PLAYER_USER_ID]


def test_opening_dms_too_fast_is_40003(guild: RunningEmulator) -> None:
    guild.reset(default_config(dm_open_limit=2, dm_open_window_seconds=10))
    first, second = open_dm(guild, PLAYER_USER_ID), open_dm(guild, SECOND_PLAYER_USER_ID)
    assert (first.status_code, second.status_code) == (200, 200)
    assert open_dm(guild, PLAYER_USER_ID).status_code == 200  # reopening is not opening
    too_fast = open_dm(guild, "100000000000000101")
    assert _code(too_fast) == (403, 40003)
    assert too_fast.json()["message"] == "You are opening direct messages too fast."
    guild.advance_clock(10)
    assert open_dm(guild, "100000000000000101").status_code == 200


# --- snowflakes -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "12345678901234567890123", "18446744073709551616", "abc"])
def test_ids_that_are_not_snowflakes_are_50035(guild: RunningEmulator, bad: str) -> None:
    for response, field in (
        (post(guild, bad), "channel_id"),
        (api(guild, "GET", f"/channels/{bad}"), "channel_id"),
        (open_dm(guild, bad), "recipient_id"),
        (grant(guild, bad), "role_id"),
    ):
        assert_matches_documented(response, "invalid_form_body")
        [error] = response.json()["errors"][field]["_errors"]
        assert error == {
            "code": "NUMBER_TYPE_COERCE",
            "message": f'Value "{bad}" is not snowflake.',
        }
    assert guild.messages() == []


# --- nonces ---------------------------------------------------------------------------


def test_enforce_nonce_is_per_sender_over_a_short_window(guild: RunningEmulator) -> None:
    window = guild.config.nonce_window_seconds
    assert 60 <= window <= 120
    body = {"nonce": "dl-1", "enforce_nonce": True}
    first = post(guild, TEXT, **body).json()
    # The same sender, another channel: Discord returns the first message.
    assert post(guild, BUSY, **body).json()["id"] == first["id"]
    # Another bot with the same nonce is another sender.
    token = "second-bot-token"
    guild.set_users({"bots": [{"token": token, "id": "799000000000000778"}]})
    theirs = api(
        guild, "POST", f"/channels/{TEXT}/messages", token=token, json={"content": "hi", **body}
    ).json()
    assert theirs["id"] != first["id"]
    guild.advance_clock(window + 1)
    assert post(guild, TEXT, **body).json()["id"] != first["id"]


def test_a_repeat_of_a_deleted_original_is_404_unknown_message(guild: RunningEmulator) -> None:
    body = {"nonce": "dl-2", "enforce_nonce": True}
    first = post(guild, TEXT, **body).json()
    deleted = requests.delete(f"{guild.control_url}/messages/{first['id']}", timeout=5)
    assert deleted.status_code == 204  # a moderator deleted it
    again = post(guild, TEXT, **body)
    assert _code(again) == (404, 10008)
    assert guild.messages() == []
    # The bot may delete its own message too.
    mine = post(guild, TEXT, nonce="dl-3", enforce_nonce=True).json()
    assert api(guild, "DELETE", f"/channels/{TEXT}/messages/{mine['id']}").status_code == 204
    assert _code(post(guild, TEXT, nonce="dl-3", enforce_nonce=True)) == (404, 10008)


# --- faults: any status and code ------------------------------------------------------


def test_faults_inject_any_status_and_json_code(guild: RunningEmulator) -> None:
    guild.add_fault("error", "/roles/", status=403, code=50013)
    guild.add_fault("error", "/messages$", status=404, code=10008, count=1)
    guild.add_fault("rate_limit", "/users/@me$", scope="shared", retry_after=2.5)
    refused = grant(guild, WINNER_ROLE_ID)
    assert refused.json() == {"message": "Missing Permissions", "code": 50013}
    assert post(guild, TEXT).json() == {"message": "Unknown Message", "code": 10008}
    shared = api(guild, "GET", "/users/@me")
    assert_matches_documented(shared, "rate_limit_shared")
    assert [r["fault"] for r in guild.requests()] == ["error", "error", "rate_limit"]
    with pytest.raises(Exception, match="4xx or 5xx"):
        guild.add_fault("error", status=200)
    with pytest.raises(Exception, match="scope"):
        guild.add_fault("rate_limit", scope="everyone")


def test_a_ban_fault_answers_like_cloudflare(guild: RunningEmulator) -> None:
    guild.add_fault("ban", "/messages$", retry_after=5)
    banned = post(guild, TEXT)
    assert banned.status_code == 429
    assert banned.headers["Content-Type"].startswith("text/html")
    assert banned.headers["Retry-After"] == "5"
    assert b"1015" in banned.content
    assert post(guild, TEXT).status_code == 200


def test_faults_with_a_probability_fire_reproducibly(guild: RunningEmulator) -> None:
    def run() -> list[int]:
        guild.reset(default_config(rate_limit_per_bucket=1000, fault_seed=7))
        guild.add_fault("error", "/users/@me$", status=502, count=1000, probability=0.25)
        return [api(guild, "GET", "/users/@me").status_code for _ in range(40)]

    first = run()
    assert first == run()  # the same seed, the same faults
    assert 3 <= first.count(502) <= 20
    assert set(first) == {200, 502}


# --- role changes carry their reason --------------------------------------------------


def test_the_audit_log_reason_is_read_url_decoded_and_limited(guild: RunningEmulator) -> None:
    reason = "Prize “Winter keys”, draw 12 rank 1"
    assert (
        grant(guild, WINNER_ROLE_ID, headers={"X-Audit-Log-Reason": quote(reason)}).status_code
        == 204
    )
    assert guild.role_changes()[-1]["reason"] == reason
    too_long = grant(guild, WINNER_ROLE_ID, headers={"X-Audit-Log-Reason": "x" * 513})
    assert _code(too_long) == (400, 50035)


def test_configured_users_and_bots_round_trip_the_new_fields() -> None:
    config = default_config(
        users=[EmulatedUser("100000000000000200", "dee", accepts_dms=False)],
        bots=[EmulatedBot("tok", "100000000000000300")],
    )
    again = type(config).from_json(json.loads(json.dumps(config.to_json())))
    assert again.users[0].accepts_dms is False
    assert again.bot_role_ids == [BOT_ROLE_ID]
    assert again.role(BOT_ROLE_ID) == GuildRole(
        BOT_ROLE_ID, "Daylock Bot", position=3, managed=True
    )


def test_the_comparison_itself_catches_a_different_answer(guild: RunningEmulator) -> None:
    """The field-by-field check can fail: a route's 429 is not the global one, and a
    success is not an error body."""
    answers = [post(guild, TEXT, content=f"m{i}") for i in range(6)]
    with pytest.raises(AssertionError, match="X-RateLimit-Scope: 'user', documented 'global'"):
        assert_matches_documented(answers[5], "rate_limit_global")
    with pytest.raises(AssertionError, match="body keys"):
        assert_matches_documented(answers[0], "json_error")
