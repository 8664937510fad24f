"""The seed writes the roster of :mod:`daylock.seeded_accounts` — the accounts staging's
Discord emulator offers on its consent page — identically whatever ``--users`` and
``--random-seed`` say, and each account is what its consent-page note promises."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from daylock import seeded_accounts
from daylock.accounts.models import Role, User
from daylock.events.models import Event, Progress, Tier
from daylock.events.selectors import completion_tier
from daylock.events.timelock import unlock_instant
from daylock.seeded_accounts import ROSTER, SMALL_SEED_ORDER, roster_for
from daylock.staging.seed import PAST_SLUG, RUNNING_SLUG, SeedOptions, seed_database
from tests.staging.conftest import ANCHOR

pytestmark = pytest.mark.django_db


def roster_rows(options: SeedOptions) -> dict[int, tuple[object, ...]]:
    """The seeded roster accounts as stored: n -> what Discord and Daylock know of it."""
    with transaction.atomic():
        seed_database(options, anchor=ANCHOR)
        rows = {
            int(discord_id) - seeded_accounts.DISCORD_ID_BASE: (
                username, role, is_banned, is_test, discord_username, global_name, in_guild,
                tuple(guild_roles),
            )
            for username, role, is_banned, is_test, discord_id, discord_username, global_name,
            in_guild, guild_roles in User.objects.values_list(
                "username", "role", "is_banned", "is_test_account", "discord__discord_id",
                "discord__username", "discord__global_name", "discord__in_guild",
                "discord__guild_role_ids",
            )
        }  # fmt: skip
        transaction.set_rollback(True)
    return {n: row for n, row in rows.items() if n <= len(ROSTER)}


def expected_row(account: seeded_accounts.SeededAccount) -> tuple[object, ...]:
    cfg = settings.DAYLOCK
    roles = seeded_accounts.guild_role_ids(
        account.role,
        admin_role_ids=cfg.discord_admin_role_ids,
        moderator_role_ids=cfg.discord_moderator_role_ids,
    )
    return (
        account.username, account.role, account.banned, True, account.username,
        account.display_name, account.in_guild, tuple(roles),
    )  # fmt: skip


def test_the_roster_is_numbered_from_one_and_the_small_seed_order_covers_it() -> None:
    assert [a.n for a in ROSTER] == list(range(1, len(ROSTER) + 1))
    assert sorted(SMALL_SEED_ORDER) == [a.n for a in ROSTER]
    assert len({a.username for a in ROSTER}) == len(ROSTER)
    kinds = {(a.role, a.banned, a.in_guild) for a in ROSTER}
    assert (Role.ADMIN, False, True) in kinds
    assert (Role.MODERATOR, False, True) in kinds
    assert (Role.PLAYER, False, True) in kinds
    assert (Role.PLAYER, True, True) in kinds  # banned
    assert (Role.PLAYER, False, False) in kinds  # left the server
    assert {a.role for a in ROSTER} <= set(Role.values)
    # A one-user seed still has a player; two users an admin as well.
    assert [a.role for a in roster_for(1)] == [Role.PLAYER]
    assert {a.role for a in roster_for(2)} == {Role.ADMIN, Role.PLAYER}


@pytest.mark.parametrize(("users", "random_seed"), [(30, 1), (30, 8), (len(ROSTER), 5), (4, 1)])
def test_the_seed_writes_the_roster_whatever_the_options(users: int, random_seed: int) -> None:
    rows = roster_rows(SeedOptions(users=users, random_seed=random_seed))
    expected = {a.n: expected_row(a) for a in roster_for(users)}
    assert rows == expected
    assert len(rows) == min(users, len(ROSTER))


def test_players_after_the_roster_are_numbered_on() -> None:
    seed_database(SeedOptions(users=14), anchor=ANCHOR)
    numbers = sorted(
        int(d) - seeded_accounts.DISCORD_ID_BASE
        for d in User.objects.values_list("discord__discord_id", flat=True)
    )
    assert numbers == list(range(1, 15))
    assert set(
        User.objects.filter(discord__discord_id__in=["1000012", "1000013", "1000014"]).values_list(
            "role", flat=True
        )
    ) == {Role.PLAYER}


def test_added_players_never_take_a_roster_number() -> None:
    seed_database(SeedOptions(users=4), anchor=ANCHOR)
    seed_database(SeedOptions(users=2), anchor=ANCHOR, add=True)
    numbers = sorted(
        int(d) - seeded_accounts.DISCORD_ID_BASE
        for d in User.objects.values_list("discord__discord_id", flat=True)
    )
    assert numbers == [1, 3, 6, 7, 12, 13]


def test_each_roster_player_is_what_its_note_promises() -> None:
    seed_database(SeedOptions(users=len(ROSTER)), anchor=ANCHOR)
    past = Event.objects.get(slug=PAST_SLUG)
    running = Event.objects.get(slug=RUNNING_SLUG)

    def user(n: int) -> User:
        return User.objects.get(discord__discord_id=seeded_accounts.discord_id_of(n))

    assert not Progress.objects.filter(user=user(6)).exists()  # no progress in any event
    partial = user(7)
    assert Progress.objects.filter(user=partial, day__event=past).exists()
    assert completion_tier(user=partial, event=past) is None  # part-way
    assert completion_tier(user=user(8), event=past) == Tier.NORMAL
    assert completion_tier(user=user(9), event=past) == Tier.VETERAN
    # "on every open day": each of the running event's open days, at that tier.
    open_days = sorted(
        number
        for number in range(1, running.day_count + 1)
        if unlock_instant(running, number) <= ANCHOR
    )
    assert 0 < len(open_days) < running.day_count
    for n, tier in ((8, Tier.NORMAL), (9, Tier.VETERAN)):
        solved = Progress.objects.filter(user=user(n), day__event=running, tier=tier)
        assert sorted(solved.values_list("day__number", flat=True)) == open_days
    assert user(10).is_banned
    assert not user(11).discord.in_guild
