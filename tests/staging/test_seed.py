"""The seed data set, in-process (the command is exercised in test_commands)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from daylock import seeded_accounts
from daylock.accounts.models import DiscordAccount, Role, User
from daylock.core.models import AuditLog
from daylock.events.models import Event, Feedback, Progress, Tier
from daylock.events.selectors import completion_tier
from daylock.events.timelock import unlock_instant
from daylock.prizes.models import Draw, DrawStatus, DrawWinner, PrizeCode
from daylock.prizes.selectors import draw_verify
from daylock.staging import seed
from daylock.staging.seed import SeedOptions, SeedRefused, seed_database
from tests.events.completion_checks import assert_completions_true, stored_completions
from tests.staging.conftest import ANCHOR

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, Any]:
    """The seeded data by natural keys (database ids differ between runs)."""
    return {
        "users": sorted(
            User.objects.values_list(
                "username", "role", "is_banned", "is_staff", "first_name", "last_name",
                "date_joined", "password", "discord__discord_id", "discord__global_name",
                "discord__nick", "discord__in_guild", "discord__guild_role_ids",
            )
        ),
        "events": sorted(Event.objects.values_list("slug", "starts_on", "day_count", "time_zone")),
        "challenges": sorted(
            Event.objects.values_list("slug", "days__number", "days__title",
                                      "days__challenges__tier", "days__challenges__answer")
        ),
        "progress": sorted(
            Progress.objects.values_list("user__username", "day__event__slug", "day__number",
                                         "tier", "solved_at")
        ),
        "feedback": sorted(
            (u, e, d or 0, r, c)
            for u, e, d, r, c in Feedback.objects.values_list(
                "user__username", "event__slug", "day__number", "rating", "comment"
            )
        ),
        "codes": sorted(PrizeCode.objects.values_list("prize__name", "code", "is_test")),
    }  # fmt: skip


def seeded_once(options: SeedOptions) -> dict[str, Any]:
    with transaction.atomic():
        seed_database(options, anchor=ANCHOR)
        data = snapshot()
        transaction.set_rollback(True)
    return data


def test_same_seed_same_data_and_another_seed_differs() -> None:
    first = seeded_once(SeedOptions(users=40, random_seed=7))
    assert User.objects.count() == 0  # rolled back
    second = seeded_once(SeedOptions(users=40, random_seed=7))
    assert first == second
    other = seeded_once(SeedOptions(users=40, random_seed=8))
    assert other["users"] != first["users"]
    assert other["progress"] != first["progress"]


def test_seeded_users_are_test_accounts_with_impossible_discord_ids() -> None:
    result = seed_database(SeedOptions(users=30), anchor=ANCHOR)
    assert result.users == result.discord_accounts == 30
    users = list(User.objects.select_related("discord"))
    assert len(users) == 30
    for user in users:
        assert user.is_test_account
        assert user.username.startswith("test-")
        assert user.email.endswith("@example.invalid")
        assert not user.has_usable_password()
        snowflake = int(user.discord.discord_id)
        # Below 2**22 a snowflake's timestamp is Discord's epoch itself: never a real user.
        assert seed.DISCORD_ID_BASE < snowflake < 2**22
    roles = [u.role for u in users]
    assert roles.count(Role.ADMIN) == 2
    assert roles.count(Role.MODERATOR) == 3
    assert roles.count(Role.PLAYER) == 25
    admin = User.objects.get(username="test-admin-1")
    assert admin.is_staff and admin.is_admin
    assert admin.discord.guild_role_ids == ["700000000000000010"]  # DISCORD_ADMIN_ROLE_IDS
    assert DiscordAccount.objects.filter(in_guild=True).count() >= 20


def test_every_completion_state_and_a_drawn_past_prize() -> None:
    seed_database(SeedOptions(users=30), anchor=ANCHOR)
    past = Event.objects.get(slug=seed.PAST_SLUG)
    players = User.objects.filter(role=Role.PLAYER)
    tiers = [completion_tier(user=u, event=past) for u in players]
    assert Tier.VETERAN in tiers
    assert Tier.NORMAL in tiers
    assert None in tiers
    partial = [
        u for u, t in zip(players, tiers, strict=True)
        if t is None and Progress.objects.filter(user=u, day__event=past).exists()
    ]  # fmt: skip
    assert partial, "some players are part-way through"
    # The completion table the draws read was built from the seeded progress.
    assert_completions_true()
    assert {tier for _, tier in stored_completions(past)} == {"normal", "veteran"}
    assert Feedback.objects.filter(event=past, day=None).exists()
    assert Feedback.objects.filter(day__isnull=False).exists()

    # The running event straddles the anchor: early days open, later days locked.
    running = Event.objects.get(slug=seed.RUNNING_SLUG)
    opens = [unlock_instant(running, k) for k in range(1, running.day_count + 1)]
    assert opens[0] <= ANCHOR < opens[-1]
    assert not Progress.objects.filter(day__event=running, solved_at__gt=ANCHOR).exists()
    assert not Progress.objects.filter(solved_at__gt=ANCHOR).exists()
    # Every day has a normal and a veteran challenge.
    for event in Event.objects.all():
        for day in event.days.all():
            assert sorted(day.challenges.values_list("tier", flat=True)) == ["normal", "veteran"]

    drawn = Draw.objects.filter(prize__event=past)
    assert drawn.count() == 2
    for draw in drawn:
        assert draw.status == DrawStatus.DRAWN
        assert draw.simulated
        assert draw_verify(draw=draw).ok
        assert DrawWinner.objects.filter(draw=draw).exists()
    assert not Draw.objects.filter(prize__event=running, status=DrawStatus.DRAWN).exists()
    codes = PrizeCode.objects.all()
    assert codes.exists()
    assert all(c.is_test and c.code.startswith("TEST-") for c in codes)
    assert not codes.filter(assigned_to__isnull=False).exists()


def test_seed_refuses_a_database_with_users_unless_add() -> None:
    User.objects.create_user("someone-real")
    with pytest.raises(SeedRefused, match="already has 1 users"):
        seed_database(SeedOptions(users=5), anchor=ANCHOR)
    assert User.objects.count() == 1
    seed_database(SeedOptions(users=5), anchor=ANCHOR, add=True)
    seed_database(SeedOptions(users=3), anchor=ANCHOR, add=True)
    numbers = sorted(
        int(d) - seed.DISCORD_ID_BASE
        for d in DiscordAccount.objects.values_list("discord_id", flat=True)
    )
    # After the roster's numbers, which only the roster's identities may use.
    first = len(seeded_accounts.ROSTER) + 1
    assert numbers == list(range(first, first + 8))
    assert_completions_true()  # added players' completions too
    assert Event.objects.filter(slug=seed.PAST_SLUG).count() == 1
    assert not User.objects.filter(is_test_account=True).exclude(role=Role.PLAYER).exists()


def test_option_bounds() -> None:
    with pytest.raises(ValueError, match="--users must be between 1 and"):
        SeedOptions(users=0)
    with pytest.raises(ValueError, match="--users must be between 1 and"):
        SeedOptions(users=seed.MAX_USERS + 1)


def test_seed_command_refuses_existing_users_with_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    User.objects.create_user("someone-real")
    with pytest.raises(SystemExit) as exit_info:
        call_command("seed", "--users", "3")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "daylock: seed: the database already has 1 users" in err
    assert "daylock seed --add" in err


def test_seed_command_writes_an_audit_row(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed", "--users", "12", "--random-seed", "3")
    assert "seeded 12 users (12 Discord accounts)" in capsys.readouterr().out
    row = AuditLog.objects.get(action="staging.seed")
    assert row.actor_label == "cli"
    assert row.details == {"users": 12, "random_seed": 3, "add": False}


def _schema_rules() -> set[tuple[str, ...]]:
    from django.db import connection

    tables = ["accounts_user", "accounts_discordaccount", "events_progress", "events_feedback",
              "events_eventcompletion"]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        rules = {tuple(map(str, row)) for row in cursor.fetchall()}
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)",
            [tables],
        )
        rules |= {tuple(map(str, row)) for row in cursor.fetchall()}
    return rules


def test_large_seed_rebuilds_every_constraint_and_index_it_dropped() -> None:
    before = _schema_rules()
    assert sum(1 for rule in before if "FOREIGN KEY" in rule[2]) == 8
    seed_database(SeedOptions(users=seed.BULK_LOAD_USERS), anchor=ANCHOR)
    assert User.objects.count() == seed.BULK_LOAD_USERS
    assert Progress.objects.count() > seed.BULK_LOAD_USERS
    assert _schema_rules() == before
    assert_completions_true(per_user_limit=50)
    assert len(stored_completions(Event.objects.get(slug=seed.PAST_SLUG))) > 1000


def test_the_template_fingerprint_follows_options_day_and_code() -> None:
    from datetime import timedelta

    from daylock.staging.reset import fingerprint

    base = fingerprint(SeedOptions(), anchor=ANCHOR)
    assert base == fingerprint(SeedOptions(), anchor=ANCHOR + timedelta(hours=23))
    assert base != fingerprint(SeedOptions(users=51), anchor=ANCHOR)
    assert base != fingerprint(SeedOptions(random_seed=2), anchor=ANCHOR)
    assert base != fingerprint(SeedOptions(), anchor=ANCHOR + timedelta(days=1))
