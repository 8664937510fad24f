"""Who the seeded test accounts are on Discord: the one list that ``daylock seed`` writes
and that the Discord emulator of staging and development offers on its consent page.

The seed (:mod:`daylock.staging.seed`) and the emulator (:mod:`daylock.testing`) may not
import each other's side, so the identities live here, below both: plain data and the
standard library, no Django and no other Daylock module (an import-linter layer keeps it
so). An account's identity — Discord id, username, display name, role, banned, in the
server or not — depends on its number ``n`` alone, never on ``--users`` or
``--random-seed``, so the emulator can serve exactly what any seed wrote.

:data:`ROSTER` holds the accounts QA logs in as: admins, moderators, players in each
completion state, a banned player and one who left the server. A seed of at least
``len(ROSTER)`` users (the default is 50) writes all of them, then players with random
names after them; a smaller seed writes the first ones of :data:`SMALL_SEED_ORDER`, so
even ``--users 2`` has a player and an admin.

Discord ids are ``DISCORD_ID_BASE + n``: below ``2**22`` a snowflake's timestamp part is
Discord's epoch itself (2015-01-01T00:00:00.000Z), months before Discord launched, so
no real account can have one (real user ids are 17-20 digits).
"""

from __future__ import annotations

from dataclasses import dataclass

DISCORD_ID_BASE = 1_000_000
#: The highest account number whose id stays below ``2**22``.
MAX_NUMBER = (1 << 22) - DISCORD_ID_BASE - 1
USERNAME_PREFIX = "test-"

#: Daylock's role names (the values of ``daylock.accounts.models.Role``).
ADMIN, MODERATOR, PLAYER = "admin", "moderator", "player"


def discord_id_of(n: int) -> str:
    return str(DISCORD_ID_BASE + n)


def username_of(role: str, n: int) -> str:
    return f"{USERNAME_PREFIX}{role}-{n}"


@dataclass(frozen=True)
class SeededAccount:
    n: int
    role: str
    display_name: str
    #: The server nickname ("" for none): Discord shows it before the display name.
    nick: str = ""
    #: Banned in Daylock (Discord knows nothing of it): the login is refused.
    banned: bool = False
    #: False: not a member of the server, so Discord answers "Unknown Guild" and the
    #: login is refused.
    in_guild: bool = True
    #: What QA finds on this account, shown next to its button on the consent page.
    story: str = ""

    @property
    def discord_id(self) -> str:
        return discord_id_of(self.n)

    @property
    def username(self) -> str:
        return username_of(self.role, self.n)


#: The seeded players are numbered after the staff, and the seed gives its first four
#: players (``n`` 6-9) one completion state each, in this order
#: (``daylock.staging.seed.completion_state``).
ROSTER: tuple[SeededAccount, ...] = (
    SeededAccount(1, ADMIN, "Amber Otter", story="admin: every staff page"),
    SeededAccount(2, ADMIN, "Brisk Badger", story="admin"),
    SeededAccount(
        3,
        MODERATOR,
        "Calm Crane",
        nick="Crane (mod team)",
        story="moderator: feedback and the outbox",
    ),
    SeededAccount(4, MODERATOR, "Dapper Dingo", story="moderator"),
    SeededAccount(5, MODERATOR, "Eager Egret", story="moderator"),
    SeededAccount(6, PLAYER, "Fuzzy Ferret", story="no progress in any event"),
    SeededAccount(7, PLAYER, "Gentle Gecko", story="part-way through the seeded events"),
    SeededAccount(8, PLAYER, "Hasty Heron", nick="Heron", story="normal tier on every open day"),
    SeededAccount(9, PLAYER, "Icy Ibis", story="veteran tier on every open day"),
    SeededAccount(10, PLAYER, "Jolly Jackal", banned=True, story="banned: Daylock refuses"),
    SeededAccount(
        11, PLAYER, "Keen Koala", in_guild=False, story="left the server: Daylock refuses"
    ),
)

#: Which roster accounts a seed of fewer than ``len(ROSTER)`` users writes: the first
#: ``users`` of these numbers (a player first, so the events get progress and the
#: prizes entrants, then an admin).
SMALL_SEED_ORDER: tuple[int, ...] = (6, 1, 7, 3, 8, 9, 10, 11, 2, 4, 5)


def roster_for(users: int) -> list[SeededAccount]:
    """The roster accounts a seed of ``users`` users writes, by number."""
    if users >= len(ROSTER):
        return list(ROSTER)
    chosen = set(SMALL_SEED_ORDER[: max(users, 0)])
    return [account for account in ROSTER if account.n in chosen]


def guild_role_ids(
    role: str, *, admin_role_ids: frozenset[str], moderator_role_ids: frozenset[str]
) -> list[str]:
    """The Discord roles a seeded account holds in the server: one of the roles the
    environment counts as admin or moderator (``DISCORD_ADMIN_ROLE_IDS``…), none for a
    player. The seed stores them and the emulator answers them, so a login leaves the
    account's role as seeded."""
    ids = {ADMIN: admin_role_ids, MODERATOR: moderator_role_ids}.get(role, frozenset())
    return sorted(ids)[:1]
