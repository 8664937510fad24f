"""The emulator's stand-in for Discord's CDN: avatars at the documented paths, only for
the hashes users have now, and the members' names and guild avatars in the API."""

from __future__ import annotations

import struct
import zlib

import pytest
import requests

from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import (
    ADMIN_AVATAR,
    ADMIN_USER_ID,
    DEFAULT_GUILD_ID,
    MODERATOR_GUILD_AVATAR,
    MODERATOR_USER_ID,
    OUTSIDER_USER_ID,
)

USER_AVATAR = f"/avatars/{ADMIN_USER_ID}/{ADMIN_AVATAR}.png"
GUILD_AVATAR = (
    f"/guilds/{DEFAULT_GUILD_ID}/users/{MODERATOR_USER_ID}/avatars/{MODERATOR_GUILD_AVATAR}.png"
)


def get(emu: RunningEmulator, path: str, **kwargs: object) -> requests.Response:
    return requests.get(emu.url + path, timeout=5, **kwargs)  # type: ignore[arg-type]


def png_size(body: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking its signature and CRC."""
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", body[8:16])
    data = body[16 : 16 + length]
    (crc,) = struct.unpack(">I", body[16 + length : 20 + length])
    assert kind == b"IHDR" and crc == zlib.crc32(kind + data)
    width, height = struct.unpack(">II", data[:8])
    return width, height


@pytest.mark.parametrize(
    "path", [USER_AVATAR, GUILD_AVATAR, *(f"/embed/avatars/{i}.png" for i in range(6))]
)
def test_current_avatars_are_served_as_png(discord_emulator: RunningEmulator, path: str) -> None:
    response = get(discord_emulator, path, params={"size": 64})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert png_size(response.content) == (64, 64)
    assert get(discord_emulator, path).content == get(discord_emulator, path).content


def test_two_users_get_different_pictures(discord_emulator: RunningEmulator) -> None:
    assert get(discord_emulator, USER_AVATAR).content != get(discord_emulator, GUILD_AVATAR).content


@pytest.mark.parametrize(
    "path",
    [
        f"/avatars/{ADMIN_USER_ID}/0000stale0000.png",  # not their avatar (any more)
        f"/avatars/{OUTSIDER_USER_ID}/{ADMIN_AVATAR}.png",  # someone else's hash
        f"/avatars/999/{ADMIN_AVATAR}.png",  # nobody
        f"/guilds/555000000000000001/users/{MODERATOR_USER_ID}/avatars/"
        f"{MODERATOR_GUILD_AVATAR}.png",  # another guild
        f"/guilds/{DEFAULT_GUILD_ID}/users/{ADMIN_USER_ID}/avatars/{ADMIN_AVATAR}.png",
        "/embed/avatars/6.png",  # there are six default avatars, 0 to 5
        "/embed/avatars/x.png",
    ],
)
def test_anything_else_is_not_found(discord_emulator: RunningEmulator, path: str) -> None:
    assert get(discord_emulator, path).status_code == 404


def test_a_changed_avatar_stops_serving_the_old_hash(discord_emulator: RunningEmulator) -> None:
    admin = discord_emulator.config.user(ADMIN_USER_ID)
    assert admin is not None
    admin.avatar = "c0ffee"
    assert get(discord_emulator, USER_AVATAR).status_code == 404
    assert get(discord_emulator, f"/avatars/{ADMIN_USER_ID}/c0ffee.png").status_code == 200


@pytest.mark.parametrize("size", ["15", "100", "8192", "big"])
def test_a_size_that_is_not_a_power_of_two_from_16_to_4096_is_refused(
    discord_emulator: RunningEmulator, size: str
) -> None:
    response = get(discord_emulator, USER_AVATAR, params={"size": size})
    assert response.status_code == 400
    assert "power of two" in response.text


def test_the_cdn_is_not_the_api_it_is_not_recorded(discord_emulator: RunningEmulator) -> None:
    discord_emulator.clear_requests()
    get(discord_emulator, USER_AVATAR)
    get(discord_emulator, "/embed/avatars/9.png")
    assert discord_emulator.requests() == []


def test_members_carry_their_nickname_and_guild_avatar(discord_emulator: RunningEmulator) -> None:
    response = requests.get(
        f"{discord_emulator.base_api_url}/guilds/{DEFAULT_GUILD_ID}/members/{MODERATOR_USER_ID}",
        headers={"Authorization": f"Bot {discord_emulator.config.bot_token}"},
        timeout=5,
    )
    member = response.json()
    assert (member["nick"], member["avatar"]) == ("Mo (mod team)", MODERATOR_GUILD_AVATAR)
    assert member["user"]["avatar"] is None
