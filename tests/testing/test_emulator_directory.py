"""The emulator's guild directory: ``GET /guilds/{id}/channels`` and
``GET /guilds/{id}/roles``, what the event editor reads to offer roles and channels by
name (``daylock.discord.directory``)."""

from __future__ import annotations

import requests

from daylock.testing.discord_emulator import (
    GuildChannel,
    GuildRole,
    RunningEmulator,
    default_config,
)
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    DEFAULT_GUILD_ID,
    WINNER_ROLE_ID,
)

OTHER_GUILD = "555000000000000001"


def bot(emu: RunningEmulator) -> dict[str, str]:
    return {"Authorization": f"Bot {emu.config.bot_token}"}


def get(emu: RunningEmulator, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{emu.base_api_url}{path}", headers=headers or bot(emu), timeout=5)


def test_roles_list_everyone_first_then_the_configured_roles(
    discord_emulator: RunningEmulator,
) -> None:
    response = get(discord_emulator, f"/guilds/{DEFAULT_GUILD_ID}/roles")
    assert response.status_code == 200
    roles = response.json()
    assert roles[0] == {
        "id": DEFAULT_GUILD_ID,
        "name": "@everyone",
        "color": 0,
        "hoist": False,
        "position": 0,
        "permissions": "0",
        "managed": False,
        "mentionable": False,
    }
    by_id = {role["id"]: role["name"] for role in roles}
    assert by_id[ADMIN_ROLE_ID] == "Admin"
    assert by_id[WINNER_ROLE_ID] == "Event Winner"
    assert len(roles) == 1 + len(discord_emulator.config.guild_roles)
    # Rate-limit headers like every bot route.
    assert response.headers["X-RateLimit-Limit"]


def test_channels_list_the_guilds_configured_channels_only(
    discord_emulator: RunningEmulator,
) -> None:
    discord_emulator.reset(
        default_config(
            channels=[
                GuildChannel("710000000000000001", "announcements"),
                GuildChannel("710000000000000002", "general", guild_id=DEFAULT_GUILD_ID),
                GuildChannel("710000000000000003", "elsewhere", guild_id=OTHER_GUILD),
            ]
        )
    )
    response = get(discord_emulator, f"/guilds/{DEFAULT_GUILD_ID}/channels")
    assert response.status_code == 200
    channels = response.json()
    assert [(c["id"], c["name"], c["guild_id"], c["type"]) for c in channels] == [
        ("710000000000000001", "announcements", DEFAULT_GUILD_ID, 0),
        ("710000000000000002", "general", DEFAULT_GUILD_ID, 0),
    ]


def test_no_configured_channels_lists_none(discord_emulator: RunningEmulator) -> None:
    """With no channels configured any id counts as a channel of the guild, but none
    has a name to offer: the list is empty, not invented."""
    assert discord_emulator.config.channels == []
    response = get(discord_emulator, f"/guilds/{DEFAULT_GUILD_ID}/channels")
    assert response.status_code == 200
    assert response.json() == []


def test_another_guild_is_unknown(discord_emulator: RunningEmulator) -> None:
    for what in ("roles", "channels"):
        response = get(discord_emulator, f"/guilds/{OTHER_GUILD}/{what}")
        assert response.status_code == 404, what
        assert response.json()["code"] == 10004


def test_a_request_without_the_bot_token_is_refused(discord_emulator: RunningEmulator) -> None:
    for what in ("roles", "channels"):
        path = f"/guilds/{DEFAULT_GUILD_ID}/{what}"
        response = get(discord_emulator, path, Authorization="Bot not-the-token")
        assert response.status_code == 401, what
        response = get(discord_emulator, path, Authorization="Bearer some-user-token")
        assert response.status_code == 401, what


def test_only_get_is_allowed(discord_emulator: RunningEmulator) -> None:
    for what in ("roles", "channels"):
        response = requests.post(
            f"{discord_emulator.base_api_url}/guilds/{DEFAULT_GUILD_ID}/{what}",
            json={"name": "new"},
            headers=bot(discord_emulator),
            timeout=5,
        )
        assert response.status_code == 405, what


def test_renamed_roles_show_their_new_names(discord_emulator: RunningEmulator) -> None:
    discord_emulator.reset(default_config(guild_roles=[GuildRole(WINNER_ROLE_ID, "Champions")]))
    roles = get(discord_emulator, f"/guilds/{DEFAULT_GUILD_ID}/roles").json()
    assert [(r["id"], r["name"]) for r in roles] == [
        (DEFAULT_GUILD_ID, "@everyone"),
        (WINNER_ROLE_ID, "Champions"),
    ]
    recorded = discord_emulator.requests(f"/api/v10/guilds/{DEFAULT_GUILD_ID}/roles")
    assert recorded, "the emulator records directory reads like every request"
