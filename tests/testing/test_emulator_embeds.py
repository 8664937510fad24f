"""Create Message with embeds and ``allowed_mentions``, as Discord judges it: each
documented limit refused with 400 code 50035 and its ``errors`` path, an empty message
with 50006, and the posted message's ``mentions``/``mention_roles`` holding exactly the
mentions that ping."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from daylock.testing.discord_emulator import GuildChannel, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    ADMIN_USER_ID,
    OUTSIDER_USER_ID,
    PLAYER_ROLE_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
    WINNER_ROLE_ID,
)
from tests.testing.test_discord_fidelity import api, assert_matches_documented, open_dm

TEXT = "710000000000000001"
UNKNOWN_ROLE = "799000000000000077"


@pytest.fixture
def guild(discord_emulator: RunningEmulator) -> RunningEmulator:
    discord_emulator.reset(default_config(channels=[GuildChannel(TEXT, "announcements")]))
    return discord_emulator


def send(emu: RunningEmulator, body: dict[str, Any], channel: str = TEXT) -> requests.Response:
    return api(emu, "POST", f"/channels/{channel}/messages", json=body)


def x(n: int) -> str:
    return "x" * n


def _error_at(response: requests.Response, *path: str) -> dict[str, Any]:
    """The one error Discord reported at ``path`` of its ``errors`` tree."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (50035, "Invalid Form Body")
    node = body["errors"]
    for key in path:
        assert list(node) == [key], f"errors at {list(node)}, expected {key}: {body['errors']}"
        node = node[key]
    [error] = node["_errors"]
    return dict(error)


MAX_LENGTH = "BASE_TYPE_MAX_LENGTH"


@pytest.mark.parametrize(
    ("body", "path", "code", "message"),
    [
        ({"content": x(2001)}, ["content"], MAX_LENGTH, "Must be 2000 or fewer in length."),
        (
            {"embeds": [{"title": "t"}] * 11},
            ["embeds"],
            MAX_LENGTH,
            "Must be 10 or fewer in length.",
        ),
        (
            {"embeds": [{"title": x(257)}]},
            ["embeds", "0", "title"],
            MAX_LENGTH,
            "Must be 256 or fewer in length.",
        ),
        (
            {"embeds": [{"title": "ok"}, {"description": x(4097)}]},
            ["embeds", "1", "description"],
            MAX_LENGTH,
            "Must be 4096 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
            ["embeds", "0", "fields"],
            MAX_LENGTH,
            "Must be 25 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v"}, {"name": x(257), "value": "v"}]}]},
            ["embeds", "0", "fields", "1", "name"],
            MAX_LENGTH,
            "Must be 256 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": x(1025)}]}]},
            ["embeds", "0", "fields", "0", "value"],
            MAX_LENGTH,
            "Must be 1024 or fewer in length.",
        ),
        (
            {"embeds": [{"fields": [{"name": "n"}]}]},
            ["embeds", "0", "fields", "0", "value"],
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ),
        (
            {"embeds": [{"footer": {"text": x(2049)}}]},
            ["embeds", "0", "footer", "text"],
            MAX_LENGTH,
            "Must be 2048 or fewer in length.",
        ),
        (
            {"embeds": [{"author": {"name": x(257)}}]},
            ["embeds", "0", "author", "name"],
            MAX_LENGTH,
            "Must be 256 or fewer in length.",
        ),
        (
            {"embeds": [{"description": x(4000)}, {"description": x(2001)}]},
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        ),
        (
            {"embeds": [{"title": "t", "color": 0x1000000}]},
            ["embeds", "0", "color"],
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 16777215.",
        ),
        (
            {"embeds": [{"title": "t", "url": "javascript:alert(1)"}]},
            ["embeds", "0", "url"],
            "URL_TYPE_INVALID_SCHEME",
            "Scheme \"javascript\" is not supported. Scheme must be one of ('http', 'https').",
        ),
        (
            {"embeds": {"title": "not a list"}},
            ["embeds"],
            "LIST_TYPE_CONVERT",
            "Only iterables may be used in a ListType",
        ),
        (
            {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": [PLAYER_USER_ID]}},
            ["allowed_mentions"],
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            'parse:["users"] and users: [ids...] are mutually exclusive.',
        ),
        (
            {"content": "hi", "allowed_mentions": {"parse": ["all"]}},
            ["allowed_mentions", "parse", "0"],
            "BASE_TYPE_CHOICES",
            "Value must be one of {'everyone', 'users', 'roles'}.",
        ),
    ],
)
def test_each_limit_is_refused_as_discord_refuses_it(
    guild: RunningEmulator, body: dict[str, Any], path: list[str], code: str, message: str
) -> None:
    response = send(guild, body)
    assert _error_at(response, *path) == {"code": code, "message": message}
    if len(path) == 1:  # the documented example's depth: compared field by field
        assert_matches_documented(response, "invalid_form_body")
    assert set(response.json()) == {"code", "errors", "message"}
    assert guild.messages() == []
    [recorded] = guild.requests(r"/messages$")
    assert recorded["status"] == 400 and recorded["body"] == body


def test_every_refused_field_is_reported_at_once(guild: RunningEmulator) -> None:
    response = send(guild, {"content": x(2001), "embeds": [{"title": x(257), "description": "ok"}]})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"content", "embeds"}
    assert errors["embeds"]["0"]["title"]["_errors"][0]["code"] == MAX_LENGTH


def test_a_message_at_every_limit_is_posted(guild: RunningEmulator) -> None:
    full = {
        "title": x(256),
        "description": x(1000),
        "fields": [{"name": x(100), "value": x(80), "inline": True}] * 25,
        "footer": {"text": x(100)},
        "author": {"name": x(144)},
        "color": 0xFFFFFF,
        "url": "https://daylock.example/",
        "timestamp": "2030-01-07T09:30:00+00:00",
    }
    response = send(guild, {"content": x(2000), "embeds": [full]})
    assert response.status_code == 200, response.text
    assert response.json()["embeds"] == [{"type": "rich", **full}]


def test_nothing_to_show_is_50006_and_an_embed_alone_is_a_message(guild: RunningEmulator) -> None:
    for empty in ({}, {"content": ""}, {"content": "", "embeds": []}):
        refused = send(guild, empty)
        assert (refused.status_code, refused.json()) == (
            400,
            {"message": "Cannot send an empty message", "code": 50006},
        )
    card = {"title": "Day 3: Lanterns", "url": "https://daylock.example/d/3/"}
    posted = send(guild, {"embeds": [card]})
    assert posted.status_code == 200
    assert posted.json()["content"] == ""
    [stored] = guild.messages(TEXT)
    assert stored["embeds"] == [{"type": "rich", **card}]


def _ids(message: dict[str, Any]) -> list[str]:
    return [user["id"] for user in message["mentions"]]


def test_only_allowed_mentions_ping_and_only_from_the_content(guild: RunningEmulator) -> None:
    text = (
        f"<@{PLAYER_USER_ID}> <@!{SECOND_PLAYER_USER_ID}> <@{ADMIN_USER_ID}> "
        f"<@&{WINNER_ROLE_ID}> <@&{PLAYER_ROLE_ID}> @everyone"
    )
    in_embed = {"description": f"<@{ADMIN_USER_ID}> <@&{WINNER_ROLE_ID}>"}
    listed = send(
        guild,
        {
            "content": text,
            "embeds": [in_embed],
            "allowed_mentions": {"parse": [], "users": [PLAYER_USER_ID], "roles": []},
        },
    ).json()
    assert _ids(listed) == [PLAYER_USER_ID]
    assert (listed["mention_roles"], listed["mention_everyone"]) == ([], False)
    assert listed["mentions"][0]["username"] == "pat"
    assert listed["mentions"][0]["member"]["roles"] == [PLAYER_ROLE_ID]  # a guild message
    parsed = send(
        guild,
        {"content": text, "allowed_mentions": {"parse": ["users"], "roles": [PLAYER_ROLE_ID]}},
    ).json()
    assert _ids(parsed) == [PLAYER_USER_ID, SECOND_PLAYER_USER_ID, ADMIN_USER_ID]
    assert (parsed["mention_roles"], parsed["mention_everyone"]) == ([PLAYER_ROLE_ID], False)
    # Without allowed_mentions Discord reads every mention of the text.
    everything = send(guild, {"content": text}).json()
    assert _ids(everything) == [PLAYER_USER_ID, SECOND_PLAYER_USER_ID, ADMIN_USER_ID]
    assert everything["mention_roles"] == [WINNER_ROLE_ID, PLAYER_ROLE_ID]
    assert everything["mention_everyone"] is True
    # A mention only in an embed, an escaped one, an unknown user or role: nobody.
    nobody = send(
        guild,
        {
            "content": rf"\<@{PLAYER_USER_ID}> <@799000000000000001> <@&{UNKNOWN_ROLE}>",
            "embeds": [in_embed],
        },
    ).json()
    assert (_ids(nobody), nobody["mention_roles"]) == ([], [])
    # The record keeps what was allowed, for tests to assert on.
    assert guild.messages(TEXT)[0]["allowed_mentions"] == {
        "parse": [],
        "users": [PLAYER_USER_ID],
        "roles": [],
    }


def test_a_dm_mentions_users_but_never_a_role(guild: RunningEmulator) -> None:
    channel = open_dm(guild, PLAYER_USER_ID).json()["id"]
    sent = send(
        guild,
        {"content": f"<@{PLAYER_USER_ID}> <@&{WINNER_ROLE_ID}> <@{OUTSIDER_USER_ID}>"},
        channel,
    ).json()
    assert _ids(sent) == [PLAYER_USER_ID, OUTSIDER_USER_ID]
    assert "member" not in sent["mentions"][0]
    assert sent["mention_roles"] == []
