"""The accounts admin (audited changes, ban actions), the ban-aware authentication
backend, and the development defaults that keep the embedded emulator's roles meaningful."""

from __future__ import annotations

import pytest
from django.test import Client

from daylock.accounts.models import Role, User
from daylock.accounts.services import role_for_guild_roles, user_set_banned
from daylock.config import load_config
from daylock.core.models import AuditLog
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    DEFAULT_BOT_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_GUILD_ID,
    MODERATOR_ROLE_ID,
    PLAYER_ROLE_ID,
)


def test_development_defaults_match_the_embedded_emulator() -> None:
    dev = load_config({"APP_ENV": "development"})
    assert dev.discord_client_id == DEFAULT_CLIENT_ID
    assert dev.discord_client_secret == DEFAULT_CLIENT_SECRET
    assert dev.discord_bot_token == DEFAULT_BOT_TOKEN
    assert dev.discord_guild_id == DEFAULT_GUILD_ID
    assert dev.discord_admin_role_ids == {ADMIN_ROLE_ID}
    assert dev.discord_moderator_role_ids == {MODERATOR_ROLE_ID}
    assert dev.discord_api_base == dev.public_url + "/_emulator/discord/api/v10"


def test_staging_has_no_default_role_ids() -> None:
    from daylock.testing.pytest_plugin import staging_environ

    environ = staging_environ() | {
        "DATABASE_URL": "postgres://x@127.0.0.1/x",
        "DISCORD_ADMIN_ROLE_IDS": "",
        "DISCORD_MODERATOR_ROLE_IDS": "",
    }
    staging = load_config(environ)
    assert staging.discord_admin_role_ids == frozenset()
    assert staging.discord_moderator_role_ids == frozenset()


def test_role_mapping_uses_the_running_configuration() -> None:
    # tests run as staging: admin 700000000000000010, moderator 700000000000000011
    assert role_for_guild_roles(["700000000000000010", "700000000000000011"]) == Role.ADMIN
    assert role_for_guild_roles(["700000000000000011"]) == Role.MODERATOR
    assert role_for_guild_roles([ADMIN_ROLE_ID, PLAYER_ROLE_ID]) == Role.PLAYER
    assert role_for_guild_roles([]) == Role.PLAYER


@pytest.fixture
def admin_client(db: None) -> tuple[Client, User]:
    admin = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_admin_lists_users_with_discord(admin_client: tuple[Client, User]) -> None:
    client, _ = admin_client
    User.objects.create(username="pat")
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200
    assert "pat" in page.content.decode()


@pytest.mark.django_db
def test_admin_ban_action_is_audited(admin_client: tuple[Client, User]) -> None:
    client, admin = admin_client
    pat = User.objects.create(username="pat")
    response = client.post(
        "/admin/accounts/user/",
        {"action": "ban_users", "_selected_action": [pat.pk]},
    )
    assert response.status_code == 302
    pat.refresh_from_db()
    assert pat.is_banned
    entry = AuditLog.objects.get(action="accounts.ban")
    assert entry.actor == admin
    assert entry.target == "user pat"
    client.post("/admin/accounts/user/", {"action": "unban_users", "_selected_action": [pat.pk]})
    pat.refresh_from_db()
    assert not pat.is_banned
    assert AuditLog.objects.filter(action="accounts.unban").count() == 1


@pytest.mark.django_db
def test_admin_role_change_is_audited(admin_client: tuple[Client, User]) -> None:
    client, admin = admin_client
    pat = User.objects.create(username="pat")
    form = {
        "username": "pat",
        "role": "moderator",
        "is_active": "on",
        "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2025-01-01",
        "initial-date_joined_1": "00:00:00",
        "discord-TOTAL_FORMS": "0",
        "discord-INITIAL_FORMS": "0",
        "discord-MIN_NUM_FORMS": "0",
        "discord-MAX_NUM_FORMS": "1",
    }
    response = client.post(f"/admin/accounts/user/{pat.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    pat.refresh_from_db()
    assert pat.role == Role.MODERATOR
    entry = AuditLog.objects.get(action="admin.change")
    assert entry.actor == admin
    assert entry.target == f"user:{pat.pk}"
    assert entry.details["changes"]["role"] == ["player", "moderator"]


@pytest.mark.django_db
def test_ban_is_idempotent_and_ends_sessions() -> None:
    pat = User.objects.create(username="pat")
    client = Client()
    client.force_login(pat)
    assert client.session.get("_auth_user_id") == str(pat.pk)
    user_set_banned(actor=None, user=pat, banned=True)
    user_set_banned(actor=None, user=pat, banned=True)
    assert AuditLog.objects.filter(action="accounts.ban").count() == 1
    assert 'href="/auth/login/"' in client.get("/").content.decode()
