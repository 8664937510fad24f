"""Names and avatars as Discord shows them, from login to the page: what a login
stores, the header and the profile, escaping, and the avatars the emulator's CDN
serves."""

from __future__ import annotations

import re

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from daylock.accounts.models import DiscordAccount, User
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import (
    ADMIN_AVATAR,
    ADMIN_USER_ID,
    DEFAULT_GUILD_ID,
    MODERATOR_GUILD_AVATAR,
    MODERATOR_USER_ID,
    PLAYER_USER_ID,
)
from tests.accounts.test_discord_login import CALLBACK, log_in
from tests.events.factories import UserFactory

pytestmark = pytest.mark.django_db

WHO = re.compile(r'<span class="who">(.*?)</span>', re.S)


@pytest.fixture
def emu(daylock_discord: RunningEmulator) -> RunningEmulator:
    daylock_discord.emulator.config.redirect_uris = [CALLBACK]
    return daylock_discord


def who(client: Client) -> str:
    found = WHO.search(client.get("/").content.decode())
    assert found is not None, "no signed-in name in the header"
    return found.group(1)


def test_login_stores_the_nickname_and_both_avatars_and_the_next_login_updates_them(
    emu: RunningEmulator,
) -> None:
    log_in(Client(), emu, MODERATOR_USER_ID)
    account = DiscordAccount.objects.get(discord_id=MODERATOR_USER_ID)
    assert (account.username, account.global_name, account.nick) == (
        "mo",
        "Mo Moderator",
        "Mo (mod team)",
    )
    assert (account.avatar, account.guild_avatar) == ("", MODERATOR_GUILD_AVATAR)
    # On Discord: the nickname and the guild avatar are removed, a user avatar is set.
    mo = emu.config.user(MODERATOR_USER_ID)
    assert mo is not None
    mo.nick, mo.guild_avatar, mo.avatar = None, None, "f00dfeed"
    log_in(Client(), emu, MODERATOR_USER_ID)
    account.refresh_from_db()
    assert (account.nick, account.guild_avatar, account.avatar) == ("", "", "f00dfeed")
    assert account.display_name == "Mo Moderator"
    assert DiscordAccount.objects.count() == 1


def test_the_header_shows_the_discord_name_and_avatar_that_the_cdn_serves(
    emu: RunningEmulator,
) -> None:
    cdn = settings.DAYLOCK.discord_cdn
    assert cdn == emu.url  # the emulator serves the CDN's paths at its root
    client = Client()
    log_in(client, emu, MODERATOR_USER_ID)
    header = who(client)
    assert "Mo (mod team)" in header and "@mo" not in header
    guild_avatar = (
        f"{cdn}/guilds/{DEFAULT_GUILD_ID}/users/{MODERATOR_USER_ID}/avatars/"
        f"{MODERATOR_GUILD_AVATAR}.png?size=64"
    )
    assert f'<img class="avatar" src="{guild_avatar}" alt=""' in header
    image = requests.get(guild_avatar, timeout=5)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")

    admin = Client()
    log_in(admin, emu, ADMIN_USER_ID)
    assert "Ada Admin" in who(admin)
    assert f"{cdn}/avatars/{ADMIN_USER_ID}/{ADMIN_AVATAR}.png?size=64" in who(admin)
    player = Client()
    log_in(player, emu, PLAYER_USER_ID)
    default = f"{cdn}/embed/avatars/{(int(PLAYER_USER_ID) >> 22) % 6}.png"
    assert default in who(player)
    assert requests.get(default, timeout=5).status_code == 200


def test_the_header_costs_no_query_for_the_discord_name(client: Client) -> None:
    """The user and their Discord account come in one query (the backend's), so the
    name in every page's header costs nothing more."""
    user = UserFactory(discord__nick="Nick Named")
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert "Nick Named" in who(client)
    discord_table = DiscordAccount._meta.db_table
    reads = [q["sql"] for q in queries.captured_queries if discord_table in q["sql"]]
    assert len(reads) == 1, reads
    assert User._meta.db_table in reads[0]  # joined to the user's own read


def test_a_user_without_discord_account_is_named_by_username_without_avatar(
    client: Client,
) -> None:
    client.force_login(UserFactory(username="operator", discord=None))
    header = who(client)
    assert header.strip() == "operator"


def test_the_profile_shows_the_name_shown_and_where_it_comes_from(client: Client) -> None:
    user = UserFactory(username="pat", discord__username="pat", discord__global_name="Pat Player")
    DiscordAccount.objects.filter(user=user).update(nick="Patty", avatar="beef")
    client.force_login(user)
    response = client.get("/events/profile/")
    assert response.status_code == 200
    page = response.content.decode()
    heading = re.search(r'<h1 class="profile-name">(.*?)</h1>', page, re.S)
    assert heading is not None
    assert heading.group(1).endswith(" Patty")
    account = DiscordAccount.objects.get(user=user)
    assert f'src="{account.avatar_url}"' in heading.group(1)
    assert "Discord: @pat · server nickname Patty · display name Pat Player" in page
    assert "By your Discord display name: Patty" in page


SCRIPT = "<script>alert(1)</script>"


def test_a_nickname_with_markup_renders_as_text_in_the_header_and_profile(
    client: Client,
) -> None:
    user = UserFactory(discord__nick=SCRIPT)
    client.force_login(user)
    for path in ("/", "/events/profile/"):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert SCRIPT not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_the_admin_lists_users_by_discord_name_and_finds_them_by_nickname() -> None:
    operator = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(operator)
    user = UserFactory(username="pat", discord__username="pat", discord__discord_id="4242")
    DiscordAccount.objects.filter(user=user).update(nick="Patty <3", global_name="Pat")
    page = client.get("/admin/accounts/user/").content.decode()
    assert "Patty &lt;3 (@pat, 4242)" in page
    found = client.get("/admin/accounts/user/", {"q": "Patty"}).content.decode()
    assert "Patty &lt;3 (@pat, 4242)" in found and "root" not in found.split("<tbody>")[-1]
