"""QA logs in as each seeded account from the emulator's consent page, over real HTTP,
and Daylock treats the login exactly as a real one: the seeded admin reaches the staff
pages, a moderator and players only what their role allows, the banned account and the
one that left the server are refused with their messages. The emulator is configured
the way ``daylock emulator`` configures it in staging (``configured_for_current``), the
database the way ``daylock seed`` fills it."""

from __future__ import annotations

import pytest
from django.test import Client

from daylock import seeded_accounts
from daylock.accounts.models import Role, User
from daylock.core.models import AuditLog
from daylock.seeded_accounts import SeededAccount
from daylock.staging.seed import SeedOptions, seed_database
from daylock.testing.discord_emulator import RunningEmulator
from daylock.testing.discord_emulator.django_adapter import configured_for_current
from tests.accounts.test_discord_login import assert_failure, follow_back, start
from tests.staging.conftest import ANCHOR

pytestmark = pytest.mark.django_db

#: One page per permission level: test utilities (admins), the outbox (moderators too).
ADMIN_ONLY = "/staff/testtools/"
STAFF = "/staff/outbox/"


@pytest.fixture
def staging_discord(daylock_discord: RunningEmulator) -> RunningEmulator:
    """Staging's emulator as ``daylock emulator`` starts it, and a seeded database."""
    daylock_discord.reset(configured_for_current())
    seed_database(SeedOptions(users=len(seeded_accounts.ROSTER)), anchor=ANCHOR)
    return daylock_discord


def log_in_as(client: Client, emu: RunningEmulator, account: SeededAccount) -> object:
    """Press "Log in with Discord", then the consent page's "Log in as …" button."""
    location = emu.log_in_as(start(client, next=STAFF), username=account.username)
    return follow_back(client, location)


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return None if user_id is None else User.objects.get(pk=user_id)


@pytest.mark.parametrize("account", seeded_accounts.ROSTER, ids=lambda a: a.username)
def test_each_seeded_account_lands_where_its_role_says(
    staging_discord: RunningEmulator, account: SeededAccount
) -> None:
    seeded = User.objects.select_related("discord").get(discord__discord_id=account.discord_id)
    users_before = User.objects.count()
    client = Client()
    response = log_in_as(client, staging_discord, account)

    if not account.in_guild:
        assert_failure(response, 403, "You are not a member of the Discord server")
        assert signed_in_user(client) is None
        assert client.get(STAFF).status_code == 302  # to the login page
    elif account.banned:
        assert_failure(response, 403, "This account is banned from Daylock.")
        assert signed_in_user(client) is None
        assert client.get(STAFF).status_code == 302
    else:
        assert response.status_code == 302  # type: ignore[attr-defined]
        assert response["Location"] == STAFF  # type: ignore[index]
        user = signed_in_user(client)
        assert user is not None
        assert user.pk == seeded.pk  # the seeded account itself, not a new one
        assert user.role == account.role
        assert user.username == account.username
        expected = {
            Role.ADMIN: {ADMIN_ONLY: 200, STAFF: 200},
            Role.MODERATOR: {ADMIN_ONLY: 403, STAFF: 200},
            Role.PLAYER: {ADMIN_ONLY: 403, STAFF: 403},
        }[Role(account.role)]
        assert {path: client.get(path).status_code for path in expected} == expected
        if account.role == Role.ADMIN:
            assert "Test utilities" in client.get(ADMIN_ONLY).content.decode()

    # Discord and the seed agree: the login created nobody and changed no role or name.
    assert User.objects.count() == users_before
    after = User.objects.select_related("discord").get(pk=seeded.pk)
    assert (after.role, after.is_banned, after.discord.global_name) == (
        seeded.role,
        seeded.is_banned,
        seeded.discord.global_name,
    )
    assert after.discord.guild_role_ids == seeded.discord.guild_role_ids
    assert not AuditLog.objects.filter(action="accounts.role_synced").exists()
