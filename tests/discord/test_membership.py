"""``daylock discord sync-members``: guild membership and roles fresh from Discord
(:mod:`daylock.discord.membership`), through the emulator's paginated member list."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from procrastinate.contrib.django import app

from daylock.accounts.models import DiscordAccount, GuildSync, Role, User
from daylock.config import Refusal, load_config
from daylock.core.models import AuditLog
from daylock.discord import membership, tasks
from daylock.discord.client import DiscordClient, TransientError
from daylock.discord.services import QUEUE
from daylock.testing.discord_emulator import EmulatedUser, RunningEmulator, default_config
from daylock.testing.discord_emulator.config import (
    ADMIN_ROLE_ID,
    DEFAULT_GUILD_ID,
    PLAYER_ROLE_ID,
)
from tests.events.factories import UserFactory

pytestmark = pytest.mark.django_db

MEMBERS_PATH = f"/api/v10/guilds/{DEFAULT_GUILD_ID}/members$"
CROWD_BASE = 400000000000000000


def crowd(n: int) -> list[EmulatedUser]:
    """``n`` guild members with rising ids (most of them have no Daylock account)."""
    return [
        EmulatedUser(str(CROWD_BASE + i), f"member{i}", roles=[PLAYER_ROLE_ID]) for i in range(n)
    ]


def linked(discord_id: int | str, **user: Any) -> User:
    """A Daylock user whose Discord account is ``discord_id`` (in the guild as far as
    Daylock knows)."""
    player: User = UserFactory(discord__discord_id=str(discord_id), **user)
    return player


def account(user: User) -> DiscordAccount:
    return DiscordAccount.objects.get(user=user)


def test_a_sync_pages_through_2500_members_and_marks_who_left(
    daylock_discord: RunningEmulator,
) -> None:
    members = crowd(2500)
    daylock_discord.reset(default_config(users=members))
    first = linked(CROWD_BASE + 0)  # on page 1
    middle = linked(CROWD_BASE + 1500)  # on page 2
    last = linked(CROWD_BASE + 2499)  # on page 3, the short one
    gone = linked(CROWD_BASE + 9999)  # in no page: left the guild
    before = timezone.now()

    result = membership.members_sync(trigger="test")

    recorded = daylock_discord.requests(MEMBERS_PATH)
    assert [r["query"] for r in recorded] == [
        {"limit": "1000", "after": "0"},
        {"limit": "1000", "after": members[999].id},
        {"limit": "1000", "after": members[1999].id},
    ]
    assert [r["status"] for r in recorded] == [200, 200, 200]
    assert (result.pages, result.members_listed) == (3, 2500)
    assert (result.accounts_present, result.departed, result.rejoined) == (3, 1, 0)
    for user in (first, middle, last):
        assert account(user).in_guild is True
        assert account(user).left_guild_at is None
        assert account(user).guild_role_ids == [PLAYER_ROLE_ID]
    left = account(gone)
    assert left.in_guild is False
    assert left.guild_role_ids == []
    assert left.left_guild_at is not None and left.left_guild_at >= before
    run = GuildSync.objects.get(pk=result.sync_id)
    assert run.finished_at is not None and run.error == ""
    assert (run.guild_id, run.trigger, run.pages, run.departed) == (DEFAULT_GUILD_ID, "test", 3, 1)
    audit = AuditLog.objects.get(action="discord.members_synced")
    assert audit.details["departed"] == 1


def test_a_member_who_left_keeps_the_time_first_seen_gone_and_can_come_back(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.reset(default_config(users=crowd(3)))
    user = linked(CROWD_BASE + 50)
    membership.members_sync(trigger="test")
    left_at = account(user).left_guild_at
    assert left_at is not None
    membership.members_sync(trigger="test")
    assert account(user).left_guild_at == left_at  # not moved by the next sync
    # They join again.
    daylock_discord.reset(
        default_config(users=[*crowd(3), EmulatedUser(str(CROWD_BASE + 50), "back")])
    )
    result = membership.members_sync(trigger="test")
    assert result.rejoined == 1
    assert account(user).in_guild is True
    assert account(user).left_guild_at is None


def test_roles_follow_the_guild_by_the_login_rule(daylock_discord: RunningEmulator) -> None:
    promoted_id, demoted_id = CROWD_BASE + 1, CROWD_BASE + 2
    daylock_discord.reset(
        default_config(
            users=[
                EmulatedUser(str(promoted_id), "newadmin", roles=[ADMIN_ROLE_ID, PLAYER_ROLE_ID]),
                EmulatedUser(str(demoted_id), "exadmin", roles=[PLAYER_ROLE_ID]),
            ]
        )
    )
    promoted = linked(promoted_id, username="newadmin")
    demoted = linked(demoted_id, username="exadmin", role=Role.ADMIN, is_staff=True)
    departed_admin = linked(CROWD_BASE + 3, username="gone", role=Role.ADMIN, is_staff=True)

    result = membership.members_sync(trigger="test")

    assert result.roles_changed == 3
    promoted.refresh_from_db()
    demoted.refresh_from_db()
    departed_admin.refresh_from_db()
    assert (promoted.role, promoted.is_staff) == (Role.ADMIN, True)
    assert (demoted.role, demoted.is_staff) == (Role.PLAYER, False)
    assert (departed_admin.role, departed_admin.is_staff) == (Role.PLAYER, False)
    assert account(promoted).guild_role_ids == [ADMIN_ROLE_ID, PLAYER_ROLE_ID]
    changes = {
        (a.target, a.details["from"], a.details["to"])
        for a in AuditLog.objects.filter(action="accounts.role_synced")
    }
    assert changes == {
        ("user newadmin", "player", "admin"),
        ("user exadmin", "admin", "player"),
        ("user gone", "admin", "player"),
    }
    assert set(
        AuditLog.objects.filter(action="accounts.role_synced").values_list("actor_label", flat=True)
    ) == {"discord sync"}
    # A second sync finds nothing to change and writes no audit row.
    again = membership.members_sync(trigger="test")
    assert (again.roles_changed, again.departed) == (0, 0)
    assert AuditLog.objects.filter(action="accounts.role_synced").count() == 3


def account_writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements among ``queries`` that wrote Discord accounts."""
    table = re.escape(DiscordAccount._meta.db_table)
    sql = (query["sql"] for query in queries.captured_queries)
    return [text for text in sql if re.search(rf'\bUPDATE "?{table}"?', text)]


def _named_member(i: int, **changes: Any) -> EmulatedUser:
    fields: dict[str, Any] = {
        "username": f"member{i}",
        "global_name": f"Member {i}",
        "roles": [PLAYER_ROLE_ID],
    }
    return EmulatedUser(str(CROWD_BASE + i), **(fields | changes))


def test_a_sync_copies_changed_names_and_avatars_and_leaves_unchanged_accounts_alone(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.reset(default_config(users=[_named_member(i) for i in range(6)]))
    users = [linked(CROWD_BASE + i) for i in range(6)]
    gone = linked(CROWD_BASE + 99, discord__nick="Kept")
    first = membership.members_sync(trigger="test")
    # The factory's accounts knew only a username: the first sync copies every name.
    assert first.names_changed == 6
    assert account(users[3]).global_name == "Member 3"
    assert account(gone).nick == "Kept"  # not listed: nothing to copy, nothing erased
    # On Discord: a nickname, a display name, a username, an avatar and a guild avatar
    # change; member 5 changes nothing.
    changed = {
        0: {"nick": "Zero <b>"},
        1: {"global_name": "One Renamed"},
        2: {"username": "member2-new"},
        3: {"avatar": "a_0123abcd"},
        4: {"guild_avatar": "9f9f9f9f", "nick": "Four"},
    }
    members = [_named_member(i, **changed.get(i, {})) for i in range(6)]
    daylock_discord.reset(default_config(users=members))
    before = {user.pk: account(user).updated_at for user in users}
    audits = AuditLog.objects.count()

    with CaptureQueriesContext(connection) as queries:
        result = membership.members_sync(trigger="test")

    assert result.names_changed == 5
    assert GuildSync.objects.get(pk=result.sync_id).names_changed == 5
    assert "5 name or avatar change(s)" in result.summary()
    assert account(users[0]).nick == "Zero <b>"
    assert account(users[0]).display_name == "Zero <b>"
    assert account(users[1]).display_name == "One Renamed"
    assert account(users[2]).username == "member2-new"
    assert account(users[3]).avatar == "a_0123abcd"
    assert (account(users[4]).guild_avatar, account(users[4]).nick) == ("9f9f9f9f", "Four")
    assert account(users[5]).updated_at == before[users[5].pk]  # unchanged: not written
    assert all(account(users[i]).updated_at > before[users[i].pk] for i in changed)
    assert AuditLog.objects.count() == audits  # names alone are not audited
    writes = account_writes(queries)
    assert len(writes) == 1, writes  # five accounts, one statement


def test_a_sync_writes_names_in_bulk_whatever_the_number_changed(
    daylock_discord: RunningEmulator,
) -> None:
    """2,500 renamed members: three UPDATE statements (1,000 accounts each), not 2,500."""
    count = 2500
    users = User.objects.bulk_create([User(username=f"bulk{i}") for i in range(count)])
    DiscordAccount.objects.bulk_create(
        DiscordAccount(
            user=user,
            discord_id=str(CROWD_BASE + i),
            username=f"member{i}",
            global_name=f"Member {i}",
            in_guild=True,
            guild_role_ids=[PLAYER_ROLE_ID],
        )
        for i, user in enumerate(users)
    )
    renamed = [_named_member(i, nick=f"Nick {i}") for i in range(count)]
    daylock_discord.reset(default_config(users=renamed, rate_limit_per_bucket=100))
    with CaptureQueriesContext(connection) as queries:
        result = membership.members_sync(trigger="test")
    assert (result.names_changed, result.accounts_present) == (count, count)
    assert len(account_writes(queries)) == 3
    assert DiscordAccount.objects.filter(nick__startswith="Nick ").count() == count
    # Nothing differs any more: the next sync writes no account.
    with CaptureQueriesContext(connection) as quiet:
        assert membership.members_sync(trigger="test").names_changed == 0
    assert account_writes(quiet) == []


def test_seeded_test_accounts_and_fresher_logins_are_left_alone(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.reset(default_config(users=crowd(2)))
    seeded = linked(1_000_123, is_test_account=True)  # a seed's impossible id
    refreshed = linked(CROWD_BASE + 77)
    # A login refreshed this account while the list was being read (its row is newer).
    DiscordAccount.objects.filter(user=refreshed).update(
        updated_at=timezone.now() + timedelta(minutes=5)
    )
    result = membership.members_sync(trigger="test")
    assert result.departed == 0
    assert account(seeded).in_guild is True
    assert account(refreshed).in_guild is True


def test_the_client_waits_out_the_rate_limit_between_pages(
    daylock_discord: RunningEmulator,
) -> None:
    """One request per bucket window: the client reads ``X-RateLimit-Remaining: 0`` and
    ``Reset-After`` and sleeps before the next page, so Discord never answers 429."""
    daylock_discord.reset(
        default_config(users=crowd(25), rate_limit_per_bucket=1, rate_limit_reset_seconds=0.3)
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    client = DiscordClient(sleep=sleep)
    result = membership.members_sync(trigger="test", client=client, page_size=10)
    recorded = daylock_discord.requests(MEMBERS_PATH)
    assert [r["status"] for r in recorded] == [200, 200, 200]
    assert result.pages == 3 and result.members_listed == 25
    assert len(slept) == 2, slept  # before page 2 and before page 3
    assert all(0.05 < s <= 0.31 for s in slept), slept


class _FailsOnPage(DiscordClient):
    def __init__(self, page: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on = page
        self.calls = 0

    def guild_members(self, guild_id: str, *, after: str = "0", limit: int = 1000) -> list[Any]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise TransientError("HTTP 503 after 4 attempts")
        return super().guild_members(guild_id, after=after, limit=limit)


def test_a_sync_that_fails_half_way_changes_nothing_and_is_not_fresh(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.reset(default_config(users=crowd(30)))
    stays = linked(CROWD_BASE + 5)
    absent = linked(CROWD_BASE + 999)
    with pytest.raises(membership.MemberSyncError, match="try again later"):
        membership.members_sync(trigger="test", client=_FailsOnPage(2), page_size=10)
    assert account(absent).in_guild is True  # not marked departed from a partial list
    assert account(stays).in_guild is True
    run = GuildSync.objects.get()
    assert run.finished_at is None
    assert "503" in run.error
    assert membership.last_complete_sync() is None
    assert membership.membership_freshness().fresh is False


def test_a_refused_list_says_to_enable_the_members_intent(
    daylock_discord: RunningEmulator,
) -> None:
    daylock_discord.add_fault("error", "/members$", status=403, code=50001, count=1)
    with pytest.raises(membership.MemberSyncError, match="Server Members intent"):
        membership.members_sync(trigger="test")


# --- freshness ------------------------------------------------------------------------


def _finished(minutes_ago: float, guild_id: str = DEFAULT_GUILD_ID) -> GuildSync:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return GuildSync.objects.create(
        guild_id=guild_id, trigger="test", started_at=at, finished_at=at
    )


def test_freshness_follows_the_newest_complete_sync_of_this_guild(
    daylock_discord: RunningEmulator, settings: Any
) -> None:
    never = membership.membership_freshness()
    assert not never.fresh
    assert never.problem is not None
    assert "never been synced" in never.problem
    assert "daylock discord sync-members" in never.problem

    _finished(90)
    stale = membership.membership_freshness()
    assert not stale.fresh
    assert stale.problem is not None
    assert "90 minutes ago" in stale.problem
    assert "DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES" in stale.problem

    _finished(1, guild_id="555000000000000001")  # another guild's says nothing here
    GuildSync.objects.create(  # an unfinished run is not a sync
        guild_id=DEFAULT_GUILD_ID, trigger="test", started_at=timezone.now()
    )
    assert not membership.membership_freshness().fresh

    _finished(30)
    assert membership.membership_freshness().fresh
    assert membership.membership_freshness().problem is None
    settings.DAYLOCK = dataclasses.replace(settings.DAYLOCK, member_sync_max_age_minutes=20)
    assert not membership.membership_freshness().fresh


def test_the_max_age_setting_is_read_and_checked() -> None:
    base = {"APP_ENV": "development", "DAYLOCK_VAR_DIR": "/tmp"}
    assert load_config(base).member_sync_max_age_minutes == 60
    custom = load_config(base | {"DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES": "15"})
    assert custom.member_sync_max_age_minutes == 15
    for bad in ("0", "-3", "soon"):
        with pytest.raises(Refusal, match="DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES"):
            load_config(base | {"DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES": bad})


# --- the command and the worker ----------------------------------------------------------


def test_the_command_syncs_and_prints_a_summary(daylock_discord: RunningEmulator) -> None:
    daylock_discord.reset(default_config(users=crowd(3)))
    user = linked(CROWD_BASE + 42)
    out = StringIO()
    call_command("discord", "sync-members", stdout=out)
    assert "finished" in out.getvalue()
    assert "3 member(s) in 1 page(s)" in out.getvalue()
    assert "1 departed" in out.getvalue()
    assert account(user).in_guild is False
    assert GuildSync.objects.get().trigger == "cli"


def test_the_command_fails_with_what_to_do(daylock_discord: RunningEmulator) -> None:
    daylock_discord.add_fault("error", "/members$", status=403, code=50001, count=1)
    with pytest.raises(CommandError, match="Server Members intent") as excinfo:
        call_command("discord", "sync-members")
    assert excinfo.value.returncode == 1


def test_the_worker_syncs_members_periodically() -> None:
    periodic = [
        entry
        for entry in app.periodic_registry.periodic_tasks.values()
        if entry.task.name == "daylock.discord.sync_members"
    ]
    assert [(p.cron, p.task.queue) for p in periodic] == [("*/10 * * * *", QUEUE)]
    assert tasks.SYNC_MEMBERS_CRON == "*/10 * * * *"


def test_the_periodic_task_runs_the_sync(daylock_discord: RunningEmulator) -> None:
    daylock_discord.reset(default_config(users=crowd(2)))
    summary = tasks.sync_members(timestamp=0)
    assert "2 member(s)" in summary
    assert GuildSync.objects.get().trigger == "worker"
    assert membership.membership_freshness().fresh


SQLITE_APPLY = """
from datetime import timedelta
from django.utils import timezone
from daylock.accounts.models import DiscordAccount, User
from daylock.discord import membership
started = timezone.now() + timedelta(seconds=1)
for i in range(3):
    user = User.objects.create(username=f"p{i}")
    DiscordAccount.objects.create(user=user, discord_id=str(400 + i), username=f"m{i}")
Listed = membership._Listed
members = {
    "400": Listed([], ("m0", "", "", "Nick <0>", "a_ff")),
    "401": Listed([], ("m1-new", "Member One", "beef", "", "")),
    "402": Listed([], ("m2", "", "", "", "")),
}
print(membership._apply(members=members, started=started)["names_changed"])
for row in DiscordAccount.objects.order_by("discord_id").values_list(
    "username", "global_name", "avatar", "nick", "guild_avatar"
):
    print("|".join(row))
"""


def test_names_are_written_on_the_sqlite_development_default(tmp_path: object) -> None:
    """The bulk write of names is plain SQL: the development default (SQLite) runs it."""
    from tests.conftest import run_daylock

    env = {"APP_ENV": "development", "DAYLOCK_VAR_DIR": str(tmp_path)}
    assert run_daylock("migrate", "--no-input", env=env, timeout=120).returncode == 0
    shown = run_daylock("shell", "-c", SQLITE_APPLY, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-4:] == [
        "2",
        "m0|||Nick <0>|a_ff",
        "m1-new|Member One|beef||",
        "m2||||",
    ]
