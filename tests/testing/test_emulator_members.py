"""The emulator's member list: ``GET /guilds/{id}/members?limit=&after=``, Discord's
paginated list that ``daylock discord sync-members`` reads (ascending user id, ``after``
= the last id of the previous page, ``limit`` 1 to 1000, default 1)."""

from __future__ import annotations

import requests

from daylock.testing.discord_emulator import EmulatedUser, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    ADMIN_USER_ID,
    DEFAULT_GUILD_ID,
    MODERATOR_USER_ID,
    OUTSIDER_USER_ID,
    PLAYER_ROLE_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
)

OTHER_GUILD = "555000000000000001"


def bot(emu: RunningEmulator) -> dict[str, str]:
    return {"Authorization": f"Bot {emu.config.bot_token}"}


def members(emu: RunningEmulator, query: str = "", **headers: str) -> requests.Response:
    url = f"{emu.base_api_url}/guilds/{DEFAULT_GUILD_ID}/members{query}"
    return requests.get(url, headers=headers or bot(emu), timeout=5)


def crowd(n: int, *, start: int = 400000000000000000) -> list[EmulatedUser]:
    return [EmulatedUser(str(start + i), f"member{i}", roles=[PLAYER_ROLE_ID]) for i in range(n)]


def test_members_are_listed_in_ascending_id_without_outsiders(
    discord_emulator: RunningEmulator,
) -> None:
    response = members(discord_emulator, "?limit=1000")
    assert response.status_code == 200
    listed = response.json()
    ids = [m["user"]["id"] for m in listed]
    assert ids == [ADMIN_USER_ID, MODERATOR_USER_ID, PLAYER_USER_ID, SECOND_PLAYER_USER_ID]
    assert OUTSIDER_USER_ID not in ids  # not in the guild
    pat = next(m for m in listed if m["user"]["id"] == PLAYER_USER_ID)
    assert pat["roles"] == [PLAYER_ROLE_ID]
    assert pat["user"]["username"] == "pat"
    assert {"joined_at", "nick", "deaf", "mute", "pending"} <= set(pat)
    assert response.headers["X-RateLimit-Limit"]


def test_limit_defaults_to_one_as_on_discord(discord_emulator: RunningEmulator) -> None:
    listed = members(discord_emulator).json()
    assert [m["user"]["id"] for m in listed] == [ADMIN_USER_ID]


def test_pages_follow_after_until_a_short_page(discord_emulator: RunningEmulator) -> None:
    users = crowd(2500)
    discord_emulator.reset(default_config(users=users, rate_limit_per_bucket=50))
    seen: list[str] = []
    pages = []
    after = "0"
    while True:
        page = members(discord_emulator, f"?limit=1000&after={after}").json()
        pages.append(len(page))
        seen += [m["user"]["id"] for m in page]
        if len(page) < 1000:
            break
        after = page[-1]["user"]["id"]
    assert pages == [1000, 1000, 500]
    assert seen == [u.id for u in users]  # every member once, in order


def test_after_excludes_that_id_and_everything_below(discord_emulator: RunningEmulator) -> None:
    listed = members(discord_emulator, f"?limit=10&after={MODERATOR_USER_ID}").json()
    assert [m["user"]["id"] for m in listed] == [PLAYER_USER_ID, SECOND_PLAYER_USER_ID]
    assert members(discord_emulator, f"?limit=10&after={SECOND_PLAYER_USER_ID}").json() == []


def test_out_of_range_or_unreadable_parameters_answer_50035(
    discord_emulator: RunningEmulator,
) -> None:
    cases = {
        "?limit=0": ("limit", "NUMBER_TYPE_MIN"),
        "?limit=1001": ("limit", "NUMBER_TYPE_MAX"),
        "?limit=many": ("limit", "NUMBER_TYPE_COERCE"),
        "?limit=-5": ("limit", "NUMBER_TYPE_COERCE"),
        "?after=abc": ("after", "NUMBER_TYPE_COERCE"),
    }
    for query, (field, code) in cases.items():
        response = members(discord_emulator, query)
        assert response.status_code == 400, query
        body = response.json()
        assert body["code"] == 50035, query
        assert body["errors"][field]["_errors"][0]["code"] == code, query


def test_another_guild_is_unknown_and_only_get_is_allowed(
    discord_emulator: RunningEmulator,
) -> None:
    url = f"{discord_emulator.base_api_url}/guilds/{OTHER_GUILD}/members?limit=5"
    response = requests.get(url, headers=bot(discord_emulator), timeout=5)
    assert response.status_code == 404
    assert response.json()["code"] == 10004
    url = f"{discord_emulator.base_api_url}/guilds/{DEFAULT_GUILD_ID}/members"
    response = requests.post(url, json={}, headers=bot(discord_emulator), timeout=5)
    assert response.status_code == 405


def test_the_list_needs_the_bot_token(discord_emulator: RunningEmulator) -> None:
    response = members(discord_emulator, "?limit=5", Authorization="Bot not-the-token")
    assert response.status_code == 401
    response = members(discord_emulator, "?limit=5", Authorization="Bearer some-user-token")
    assert response.status_code == 401


def test_a_departed_user_drops_out_of_the_list(discord_emulator: RunningEmulator) -> None:
    users = default_config().users
    for user in users:
        if user.id == PLAYER_USER_ID:
            user.in_guild = False
    discord_emulator.reset(default_config(users=users))
    ids = [m["user"]["id"] for m in members(discord_emulator, "?limit=100").json()]
    assert PLAYER_USER_ID not in ids
    assert ADMIN_USER_ID in ids
