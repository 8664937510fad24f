"""Login with Discord end to end: Django's test client on Daylock's side, the emulator
over real HTTP on Discord's side (consent page driven with ``requests``)."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.test import Client

from daylock.accounts.models import DiscordAccount, Role, User
from daylock.config import OAUTH_CALLBACK_PATH
from daylock.core.models import AuditLog
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    ADMIN_USER_ID,
    MODERATOR_USER_ID,
    OUTSIDER_USER_ID,
    PLAYER_ROLE_ID,
    PLAYER_USER_ID,
    SECOND_PLAYER_USER_ID,
)

pytestmark = pytest.mark.django_db
CALLBACK = "http://testserver" + OAUTH_CALLBACK_PATH


@pytest.fixture
def emu(daylock_discord: RunningEmulator) -> RunningEmulator:
    """The emulator, accepting only Daylock's registered callback URL (as Discord does)."""
    daylock_discord.emulator.config.redirect_uris = [CALLBACK]
    return daylock_discord


def start(client: Client, **data: str) -> str:
    """Press "Log in with Discord"; return the authorize URL Daylock redirects to."""
    response = client.post("/auth/login/", data)
    assert response.status_code == 302, response.content
    return str(response["Location"])


def follow_back(client: Client, location: str) -> object:
    """Follow the emulator's redirect back into Daylock's callback."""
    assert location.startswith(CALLBACK), location
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def log_in(client: Client, emu: RunningEmulator, user_id: str) -> object:
    location = emu.authorize(start(client), user_id=user_id)
    return follow_back(client, location)


def assert_nothing_created() -> None:
    assert User.objects.count() == 0
    assert DiscordAccount.objects.count() == 0


def assert_failure(response: object, status: int, text: str) -> None:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    body = response.content.decode()  # type: ignore[attr-defined]
    assert "Login failed" in body
    assert text in body
    assert 'href="/auth/login/"' in body  # a way to try again


# --------------------------------------------------------------------------- success


def test_login_page_offers_discord_button() -> None:
    page = Client().get("/auth/login/")
    assert page.status_code == 200
    assert "Log in with Discord" in page.content.decode()
    home = Client().get("/").content.decode()
    assert 'href="/auth/login/"' in home


def test_login_redirects_to_the_configured_discord_with_pkce_and_state(
    emu: RunningEmulator,
) -> None:
    location = start(Client())
    assert location.startswith(emu.base_api_url + "/oauth2/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["client_id"] == emu.config.client_id
    assert query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"identify", "guilds.members.read"}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20


def test_login_with_get_is_not_a_way_to_start_the_flow() -> None:
    # Starting needs a POST with the CSRF token (no login CSRF through a link).
    client = Client(enforce_csrf_checks=True)
    assert client.post("/auth/login/").status_code == 403


def test_full_login_creates_admin_with_discord_account(emu: RunningEmulator) -> None:
    client = Client()
    response = log_in(client, emu, ADMIN_USER_ID)
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert response["Location"] == "/"  # type: ignore[index]
    user = User.objects.get()
    assert user.username == "ada"
    assert user.first_name == "Ada Admin"
    assert user.role == Role.ADMIN
    assert user.is_staff
    assert not user.has_usable_password()
    account = user.discord
    assert account.discord_id == ADMIN_USER_ID
    assert account.username == "ada"
    assert account.global_name == "Ada Admin"
    assert account.in_guild
    assert set(account.guild_role_ids) == {ADMIN_ROLE_ID, PLAYER_ROLE_ID}
    home = client.get("/").content.decode()
    assert '<span class="who">Ada Admin<' in home  # the header names them as Discord does
    assert "Log out" in home
    # Issue 14: the Discord admin can author in the Django admin (the role table decides).
    admin_index = client.get("/admin/")
    assert admin_index.status_code == 200
    assert "/admin/events/event/add/" in admin_index.content.decode()
    assert client.get("/admin/events/event/add/").status_code == 200
    # what Discord saw: PKCE verifier, Basic client auth, bearer calls
    token_call = emu.requests("/oauth2/token$")[0]
    assert token_call["status"] == 200
    assert token_call["body"]["code_verifier"] == "***"
    assert token_call["headers"]["Authorization"] == "Basic ***"
    paths = [r["path"] for r in emu.requests()]
    assert paths[-2:] == [
        "/api/v10/users/@me",
        f"/api/v10/users/@me/guilds/{emu.config.guild_id}/member",
    ]


@pytest.mark.parametrize(
    ("discord_id", "role", "staff"),
    [
        (MODERATOR_USER_ID, Role.MODERATOR, True),
        (PLAYER_USER_ID, Role.PLAYER, False),
        (SECOND_PLAYER_USER_ID, Role.PLAYER, False),
    ],
)
def test_roles_follow_configured_guild_roles(
    emu: RunningEmulator, discord_id: str, role: Role, staff: bool
) -> None:
    log_in(Client(), emu, discord_id)
    user = User.objects.get(discord__discord_id=discord_id)
    assert user.role == role
    assert user.is_staff is staff


def test_admin_role_ids_come_from_configuration(emu: RunningEmulator) -> None:
    settings.DAYLOCK = dataclasses.replace(
        settings.DAYLOCK, discord_admin_role_ids=frozenset({PLAYER_ROLE_ID})
    )
    log_in(Client(), emu, PLAYER_USER_ID)
    assert User.objects.get().role == Role.ADMIN


def test_second_login_updates_without_duplicates(emu: RunningEmulator) -> None:
    log_in(Client(), emu, PLAYER_USER_ID)
    first = User.objects.get()
    player = emu.config.user(PLAYER_USER_ID)
    assert player is not None
    player.username = "pat2"
    player.global_name = "Pat Renamed"
    player.avatar = "abc123"
    player.roles = [ADMIN_ROLE_ID]
    client = Client()
    assert log_in(client, emu, PLAYER_USER_ID).status_code == 302  # type: ignore[attr-defined]
    user = User.objects.get()
    assert user.pk == first.pk
    assert DiscordAccount.objects.count() == 1
    assert user.username == "pat2"
    assert user.discord.global_name == "Pat Renamed"
    assert user.discord.avatar == "abc123"
    assert user.discord.guild_role_ids == [ADMIN_ROLE_ID]
    assert user.role == Role.ADMIN
    audit = AuditLog.objects.get(action="accounts.role_synced")
    assert audit.details == {"discord_id": PLAYER_USER_ID, "from": "player", "to": "admin"}
    # a demotion on Discord is a demotion here
    player.roles = []
    log_in(Client(), emu, PLAYER_USER_ID)
    user.refresh_from_db()
    assert user.role == Role.PLAYER
    assert not user.is_staff


def test_username_taken_by_someone_else_gets_a_suffix(emu: RunningEmulator) -> None:
    User.objects.create(username="pat")
    log_in(Client(), emu, PLAYER_USER_ID)
    assert User.objects.get(discord__discord_id=PLAYER_USER_ID).username == "pat-2"


def test_next_is_followed_only_when_local(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client, next="/events/"), user_id=PLAYER_USER_ID)
    assert follow_back(client, location)["Location"] == "/events/"  # type: ignore[index]
    client = Client()
    location = emu.authorize(start(client, next="https://evil.example/"), user_id=PLAYER_USER_ID)
    assert follow_back(client, location)["Location"] == "/"  # type: ignore[index]


def test_logout(emu: RunningEmulator) -> None:
    client = Client()
    log_in(client, emu, PLAYER_USER_ID)
    assert "_auth_user_id" in client.session
    # A GET does not log out (a link could) and is no 405 either: the login page,
    # which has the "Log out" button.
    response = client.get("/auth/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/auth/login/"
    assert "_auth_user_id" in client.session
    assert "Log out" in client.get("/auth/login/").content.decode()
    response = client.post("/auth/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert 'href="/auth/login/"' in client.get("/").content.decode()


# --------------------------------------------------------------------------- failures


def test_denied_consent(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), action="cancel")
    response = follow_back(client, location)
    assert_failure(response, 403, "cancelled the login")
    assert_nothing_created()
    assert "_auth_user_id" not in client.session


def test_replayed_callback_fails(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    assert follow_back(client, location).status_code == 302  # type: ignore[attr-defined]
    client.post("/auth/logout/")
    assert_failure(follow_back(client, location), 400, "expired or was already used")
    assert "_auth_user_id" not in client.session
    # an attacker replaying the URL in another browser gets nothing either
    assert_failure(follow_back(Client(), location), 400, "expired or was already used")
    assert User.objects.count() == 1


def test_callback_without_a_started_login_fails(emu: RunningEmulator) -> None:
    client = Client()
    other = Client()
    location = emu.authorize(start(other), user_id=PLAYER_USER_ID)
    assert_failure(follow_back(client, location), 400, "expired or was already used")
    assert_nothing_created()


@pytest.mark.parametrize("change", ["missing", "wrong"])
def test_missing_or_wrong_state_fails(emu: RunningEmulator, change: str) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if change == "missing":
        del query["state"]
    else:
        query["state"] = query["state"][::-1]
    response = follow_back(client, urlunsplit(parts._replace(query=urlencode(query))))
    assert_failure(response, 400, "expired or was already used")
    assert_nothing_created()
    assert emu.requests("/oauth2/token") == []  # nothing was exchanged


def test_tampered_code_fails(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["code"] = "forged-" + query["code"]
    response = follow_back(client, urlunsplit(parts._replace(query=urlencode(query))))
    assert_failure(response, 400, "Discord did not accept this login attempt")
    assert "invalid_grant" in response.content.decode()  # type: ignore[attr-defined]
    assert_nothing_created()


def test_wrong_client_secret_fails_the_token_exchange(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    settings.DAYLOCK = dataclasses.replace(settings.DAYLOCK, discord_client_secret="not-it")
    response = follow_back(client, location)
    assert_failure(response, 400, "Discord did not accept this login attempt")
    assert "invalid_client" in response.content.decode()  # type: ignore[attr-defined]
    assert_nothing_created()


def test_token_endpoint_error_is_a_502(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    emu.add_fault("error", "/oauth2/token$", status=503)
    assert_failure(follow_back(client, location), 502, "Discord answered with an error")
    assert_nothing_created()


def test_rate_limited_profile_lookup_is_a_502(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    emu.add_fault("rate_limit", "/users/@me$", retry_after=2)
    assert_failure(follow_back(client, location), 502, "Try again in a moment")
    assert_nothing_created()


def test_discord_unreachable_is_a_502(emu: RunningEmulator) -> None:
    client = Client()
    location = emu.authorize(start(client), user_id=PLAYER_USER_ID)
    settings.DAYLOCK = dataclasses.replace(
        settings.DAYLOCK, discord_api_base="http://127.0.0.1:9/api/v10"
    )
    assert_failure(follow_back(client, location), 502, "could not reach Discord")
    assert_nothing_created()


def test_user_not_in_guild_is_told_to_join(emu: RunningEmulator) -> None:
    client = Client()
    response = log_in(client, emu, OUTSIDER_USER_ID)
    assert_failure(response, 403, "Join the server first")
    assert_nothing_created()
    assert "_auth_user_id" not in client.session


def test_member_who_left_the_guild_is_refused_and_marked(emu: RunningEmulator) -> None:
    log_in(Client(), emu, PLAYER_USER_ID)
    player = emu.config.user(PLAYER_USER_ID)
    assert player is not None
    player.in_guild = False
    client = Client()
    assert_failure(log_in(client, emu, PLAYER_USER_ID), 403, "Join the server first")
    account = DiscordAccount.objects.get()
    assert not account.in_guild
    assert account.guild_role_ids == []
    assert "_auth_user_id" not in client.session


def test_banned_user_cannot_log_in_and_loses_sessions(emu: RunningEmulator) -> None:
    from daylock.accounts.services import user_set_banned

    open_session = Client()
    log_in(open_session, emu, PLAYER_USER_ID)
    user = User.objects.get()
    user_set_banned(actor=None, user=user, banned=True, reason="cheating")
    assert AuditLog.objects.filter(action="accounts.ban", target="user pat").exists()
    client = Client()
    assert_failure(log_in(client, emu, PLAYER_USER_ID), 403, "banned")
    assert "_auth_user_id" not in client.session
    assert 'href="/auth/login/"' in open_session.get("/").content.decode()  # logged out
    assert User.objects.count() == 1
