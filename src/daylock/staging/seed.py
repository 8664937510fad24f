"""The seed data set: test users with Discord links and roles, events with content,
progress in every completion state, feedback, and prizes (one already drawn).

Deterministic: the same ``random_seed``, ``users`` and anchor day always produce the
same rows (draw seeds and audit timestamps excepted: a draw is a real draw). Every
timestamp derives from the *anchor*, 00:00 UTC of the current day on the environment
clock, and never lies after it, so a seed run at any hour of a day gives the same
data and nothing is "solved in the future".

Test accounts cannot be mistaken for, or collide with, real Discord users: their
Discord ids are ``1_000_000 + n``. A Discord snowflake is ``(milliseconds since
2015-01-01) << 22 | worker/process/sequence``, so every id below ``2**22 =
4_194_304`` would have been minted in the very first millisecond of Discord's epoch,
months before Discord launched; real user ids are 17-20 digits. The range also keeps
seeded users well clear of the emulator's and the production-id lists' 18-digit ids.
Usernames start with ``test-``, e-mail addresses end in ``.invalid`` (RFC 2606: never
deliverable), passwords are unusable, and ``is_test_account`` is set. The first
accounts — admins, moderators, a player in each completion state, a banned player and
one who left the server — are :data:`daylock.seeded_accounts.ROSTER`, whatever the
options: staging's Discord emulator serves the same identities, so QA logs in as any of
them from its consent page.

Large seeds (``--users 100000``) write users, Discord accounts, progress and feedback
with PostgreSQL ``COPY`` (see :mod:`daylock.staging.bulk`); events, days, prizes and
draws (a handful of rows) go through the ORM and the prizes services, so the drawn
past prize is a real, verifiable draw.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction

from daylock import clock, config, seeded_accounts
from daylock.accounts.models import DiscordAccount, Role, User
from daylock.staging.bulk import constraints_rebuilt_after, insert_rows
from daylock.staging.progressbar import ProgressBar

DEFAULT_USERS = 50
DEFAULT_RANDOM_SEED = 1
#: Seeded Discord ids are DISCORD_ID_BASE + n (see :mod:`daylock.seeded_accounts`).
DISCORD_ID_BASE = seeded_accounts.DISCORD_ID_BASE
MAX_USERS = seeded_accounts.MAX_NUMBER

RUNNING_SLUG = "staging-running"
PAST_SLUG = "staging-past"
UPCOMING_SLUG = "staging-upcoming"

ADJECTIVES = (
    "Amber", "Brisk", "Calm", "Dapper", "Eager", "Fuzzy", "Gentle", "Hasty", "Icy", "Jolly",
    "Keen", "Lucky", "Mellow", "Nimble", "Odd", "Plucky", "Quiet", "Rusty", "Sunny", "Tidy",
)  # fmt: skip
ANIMALS = (
    "Otter", "Badger", "Crane", "Dingo", "Egret", "Ferret", "Gecko", "Heron", "Ibis", "Jackal",
    "Koala", "Lemur", "Marten", "Newt", "Ocelot", "Puffin", "Quokka", "Raven", "Stoat", "Tapir",
)  # fmt: skip
#: Every third random player (and a few roster accounts) has a server nickname, "<title> <animal>":
#: staging then shows all three of Discord's names (nickname, display name, username).
NICKNAME_TITLES = ("Captain", "Doc", "Chief", "Professor", "Ace", "Sir")
COMMENTS = (
    "",
    "",
    "Loved it!",
    "Day 3 was tough.",
    "More puzzles like this please.",
    "The veteran track was a real challenge.",
    "Nice event, thanks to the organisers.",
    "<b>html is escaped</b> & so are ampersands",
)


@dataclass(frozen=True)
class SeedOptions:
    users: int = DEFAULT_USERS
    random_seed: int = DEFAULT_RANDOM_SEED

    def __post_init__(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"--users must be between 1 and {MAX_USERS} (got {self.users})")

    def key(self) -> str:
        """What the reset template's fingerprint records about the options."""
        return f"users={self.users};random_seed={self.random_seed}"


@dataclass
class SeedResult:
    users: int = 0
    discord_accounts: int = 0
    events: int = 0
    days: int = 0
    challenges: int = 0
    progress: int = 0
    feedback: int = 0
    prizes: int = 0
    codes: int = 0
    draws: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"seeded {self.users} users ({self.discord_accounts} Discord accounts), "
            f"{self.events} events, {self.days} days, {self.challenges} challenges, "
            f"{self.progress} progress rows, {self.feedback} feedback, {self.prizes} prizes "
            f"({self.codes} test codes), {self.draws} draws"
        )


class SeedRefused(Exception):
    """Seeding would mix with existing data; the message says what to do."""


def anchor_for(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s UTC day: every seeded timestamp is at or before it."""
    day = now.astimezone(UTC).date()
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def default_anchor() -> datetime:
    return anchor_for(clock.now())


# --- users ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedUser:
    n: int
    username: str
    role: str
    display: str
    #: Server nickname ("" for none).
    nick: str
    is_banned: bool
    in_guild: bool
    joined: datetime
    password: str


def _joined_and_password(rng: random.Random, anchor: datetime) -> tuple[datetime, str]:
    joined = anchor - timedelta(days=rng.randint(45, 900), minutes=rng.randint(0, 1439))
    return joined, "!" + rng.getrandbits(160).to_bytes(20, "big").hex()


def plan_users(
    *, rng: random.Random, first_n: int, count: int, anchor: datetime, add: bool
) -> list[PlannedUser]:
    """``count`` users: the roster of :mod:`daylock.seeded_accounts` (the accounts the
    Discord emulator offers, identical whatever the options) and then players with
    random names numbered after it; with ``add``, only random players from ``first_n``."""
    roster = [] if add else seeded_accounts.roster_for(count)
    planned = []
    for account in roster:
        joined, password = _joined_and_password(rng, anchor)
        planned.append(
            PlannedUser(
                n=account.n,
                username=account.username,
                role=Role(account.role),
                display=account.display_name,
                nick=account.nick,
                is_banned=account.banned,
                in_guild=account.in_guild,
                joined=joined,
                password=password,
            )
        )
    start = first_n if add else len(seeded_accounts.ROSTER) + 1
    for n in range(start, start + count - len(roster)):
        display = f"{rng.choice(ADJECTIVES)} {rng.choice(ANIMALS)}"
        # From n, not the generator: the rest of the data set stays as it was.
        nick = f"{NICKNAME_TITLES[n % len(NICKNAME_TITLES)]} {display.split()[1]}"
        banned_roll, guild_roll = rng.random(), rng.random()
        joined, password = _joined_and_password(rng, anchor)
        planned.append(
            PlannedUser(
                n=n,
                username=seeded_accounts.username_of(Role.PLAYER, n),
                role=Role.PLAYER,
                display=display,
                nick=nick if n % 3 == 0 else "",
                # A few more players are banned or have left the guild: not eligible.
                is_banned=banned_roll < 0.02,
                in_guild=guild_roll >= 0.05,
                joined=joined,
                password=password,
            )
        )
    return planned


def _guild_roles(role: str) -> list[str]:
    cfg = config.current()
    return seeded_accounts.guild_role_ids(
        role,
        admin_role_ids=cfg.discord_admin_role_ids,
        moderator_role_ids=cfg.discord_moderator_role_ids,
    )


def _insert_users(planned: list[PlannedUser], anchor: datetime, bar: ProgressBar) -> dict[str, int]:
    bar.stage("users")
    columns = (
        "password", "username", "first_name", "last_name", "email", "is_staff", "is_active",
        "is_superuser", "date_joined", "role", "is_banned", "is_test_account",
    )  # fmt: skip
    rows = (
        (
            p.password,
            p.username,
            p.display.split()[0],
            p.display.split()[1],
            f"{p.username}@example.invalid",
            p.role == Role.ADMIN,
            True,
            False,
            p.joined,
            p.role,
            p.is_banned,
            True,
        )
        for p in planned
    )
    insert_rows(User, columns, rows, fill=anchor, progress=bar.advance)
    ids = (
        dict(
            User.objects.filter(username__in=[p.username for p in planned]).values_list(
                "username", "id"
            )
        )
        if len(planned) < 5000
        else dict(User.objects.filter(is_test_account=True).values_list("username", "id"))
    )
    bar.stage("discord accounts")
    discord_rows = (
        (
            ids[p.username],
            str(DISCORD_ID_BASE + p.n),
            p.username,
            p.display,
            p.nick,
            "",
            p.in_guild,
            _guild_roles(p.role),
        )
        for p in planned
    )
    insert_rows(
        DiscordAccount,
        (
            "user_id",
            "discord_id",
            "username",
            "global_name",
            "nick",
            "avatar",
            "in_guild",
            "guild_role_ids",
        ),
        discord_rows,
        fill=anchor,
        progress=bar.advance,
    )
    return ids


# --- events, content -----------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    slug: str
    name: str
    description: str
    time_zone: str
    starts_on: date
    day_count: int


def event_specs(anchor: datetime) -> list[EventSpec]:
    today = anchor.date()
    return [
        EventSpec(
            RUNNING_SLUG,
            "Staging Puzzle Week (running)",
            "A seeded event that is running now: the first days are open, the last are "
            "still locked. Move the clock (test utilities) to open them.",
            "Europe/Berlin",
            today - timedelta(days=3),
            7,
        ),
        EventSpec(
            PAST_SLUG,
            "Staging Spring Sprint (finished)",
            "A seeded event that ended weeks ago; its prizes are drawn.",
            "UTC",
            today - timedelta(days=30),
            5,
        ),
        EventSpec(
            UPCOMING_SLUG,
            "Staging Summer Trail (upcoming)",
            "A seeded event that has not started yet.",
            "America/New_York",
            today + timedelta(days=14),
            5,
        ),
    ]


def _create_event(spec: EventSpec, rng: random.Random, result: SeedResult) -> Any:
    from daylock.events.models import Challenge, Day, Event, Tier

    event = Event.objects.create(
        slug=spec.slug,
        name=spec.name,
        description=spec.description,
        time_zone=spec.time_zone,
        starts_on=spec.starts_on,
        day_count=spec.day_count,
        published=True,
    )
    result.events += 1
    for k in range(1, spec.day_count + 1):
        a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
        day = Day.objects.create(
            event=event,
            number=k,
            title=f"{rng.choice(ADJECTIVES)} {rng.choice(ANIMALS)}",
            body_markdown=(
                f"Seeded content for *{spec.name}*.\n\n"
                "- The **normal** challenge is arithmetic.\n"
                "- The **veteran** challenge is a little more arithmetic.\n"
            ),
        )
        Challenge.objects.bulk_create(
            [
                Challenge(
                    day=day, tier=Tier.NORMAL, prompt=f"What is {a} + {b}?", answer=str(a + b)
                ),
                Challenge(
                    day=day,
                    tier=Tier.VETERAN,
                    prompt=f"What is {a} * {b} - {c}?",
                    answer=str(a * b - c),
                ),
            ]
        )
        result.days += 1
        result.challenges += 2
    return event


# --- progress and feedback ----------------------------------------------------------

NONE, PARTIAL, NORMAL, VETERAN = "none", "partial", "normal", "veteran"
STATES = (NONE, PARTIAL, NORMAL, VETERAN)


#: Cumulative shares of the random states: 20 % none, 25 % partial, 30 % normal, 25 % veteran.
_STATE_THRESHOLDS = ((0.20, NONE), (0.45, PARTIAL), (0.75, NORMAL), (1.01, VETERAN))
#: Prebuilt offsets: the progress loop runs a million times for a 100k-user seed.
_MINUTES = [timedelta(minutes=i) for i in range(30 * 60 + 1)]
_HOURS = [timedelta(hours=i) for i in range(21)]


def completion_state(rng: random.Random, player_index: int) -> str:
    """The first four players cover every state; the rest are drawn at random."""
    if player_index < len(STATES):
        return STATES[player_index]
    roll = rng.random()
    return next(state for limit, state in _STATE_THRESHOLDS if roll < limit)


def _progress_rows(
    *,
    rng: random.Random,
    players: list[tuple[int, int]],
    days: list[tuple[int, datetime]],
    anchor: datetime,
    feedback: list[tuple[Any, ...]],
    event_id: int,
) -> Iterator[tuple[int, int, str, datetime]]:
    """Progress of ``players`` ((player index, user id)) on the open ``days`` ((id, opens
    at)); appends their feedback rows to ``feedback`` as a side product."""
    open_days = [(day_id, opens) for day_id, opens in days if opens <= anchor]
    roll = rng.random
    minutes, hours = _MINUTES, _HOURS
    for index, user_id in players:
        state = completion_state(rng, index)
        if state == NONE or not open_days:
            continue
        solved = open_days
        if state == PARTIAL:
            solved = open_days[: 1 + int(roll() * max(1, len(open_days) - 1))]
        for day_id, opens in solved:
            at = opens + minutes[3 + int(roll() * 1797)]
            at = anchor if at > anchor else at
            yield (user_id, day_id, "normal", at)
            if state == VETERAN:
                later = at + minutes[5 + int(roll() * 595)]
                yield (user_id, day_id, "veteran", anchor if later > anchor else later)
        chance = {PARTIAL: 0.3, NORMAL: 0.7, VETERAN: 0.8}[state]
        if roll() < chance:
            at = min(anchor, solved[-1][1] + hours[1 + int(roll() * 20)])
            rating = rng.randint(2, 5) if state != PARTIAL else rng.randint(1, 5)
            feedback.append((user_id, event_id, None, rating, rng.choice(COMMENTS), at, at))
        if roll() < 0.25:
            day_id, opens = solved[0]
            at = min(anchor, opens + hours[1 + int(roll() * 20)])
            feedback.append(
                (user_id, event_id, day_id, rng.randint(1, 5), rng.choice(COMMENTS), at, at)
            )


def _seed_progress(
    *,
    rng: random.Random,
    events: list[Any],
    players: list[tuple[int, int]],
    anchor: datetime,
    bar: ProgressBar,
    result: SeedResult,
) -> None:
    from daylock.events.models import Day, Feedback, Progress
    from daylock.events.timelock import unlock_instant

    for event in events:
        if event.slug == UPCOMING_SLUG:
            continue
        bar.stage(f"progress {event.slug}")
        days = [
            (day_id, unlock_instant(event, number))
            for day_id, number in Day.objects.filter(event=event)
            .order_by("number")
            .values_list("id", "number")
        ]
        feedback: list[tuple[Any, ...]] = []
        # One RNG stream per event, so adding an event never reshuffles another one.
        event_rng = random.Random(f"{rng.random()}:{event.slug}")
        result.progress += insert_rows(
            Progress,
            ("user_id", "day_id", "tier", "solved_at"),
            _progress_rows(
                rng=event_rng,
                players=players,
                days=days,
                anchor=anchor,
                feedback=feedback,
                event_id=event.pk,
            ),
            fill=anchor,
        )
        bar.advance(len(players))
        result.feedback += insert_rows(
            Feedback,
            ("user_id", "event_id", "day_id", "rating", "comment", "created_at", "updated_at"),
            feedback,
            fill=anchor,
        )


# --- prizes ----------------------------------------------------------------------------


def _seed_prizes(*, rng: random.Random, events: dict[str, Any], result: SeedResult) -> None:
    """Prizes with test-only code inventories; the past event's prizes are drawn."""
    from daylock.staging import seed_prizes

    seed_prizes.seed(rng=rng, events=events, result=result)


# --- entry point ----------------------------------------------------------------------

#: From this many users on, constraints and indexes are rebuilt once after the load
#: instead of maintained row by row (see :func:`daylock.staging.bulk.constraints_rebuilt_after`).
BULK_LOAD_USERS = 5000


def _bulk_load(users: int) -> contextlib.AbstractContextManager[None]:
    from daylock.events.models import EventCompletion, Feedback, LeaderboardEntry, Progress

    if users < BULK_LOAD_USERS:
        return contextlib.nullcontext()
    return constraints_rebuilt_after(
        [User, DiscordAccount, Progress, Feedback, EventCompletion, LeaderboardEntry]
    )


def next_user_number() -> int:
    """The next free ``n`` of the reserved Discord id range (``--add``), never one of
    the roster's: its numbers stand for the roster's identities (the emulator offers
    them), even where a small seed left some unused."""
    top = len(seeded_accounts.ROSTER)
    for discord_id in DiscordAccount.objects.filter(discord_id__regex=r"^[0-9]{7}$").values_list(
        "discord_id", flat=True
    ):
        value = int(discord_id) - DISCORD_ID_BASE
        if 0 < value <= MAX_USERS:
            top = max(top, value)
    return top + 1


def seed_database(
    options: SeedOptions,
    *,
    add: bool = False,
    anchor: datetime | None = None,
    bar: ProgressBar | None = None,
) -> SeedResult:
    """Write the data set. Refuses (:class:`SeedRefused`) when users exist, unless
    ``add``: then the users are added as players to the seeded events (created if
    missing), numbered after the existing test users."""
    from daylock.events.leaderboard import standings_add_missing
    from daylock.events.models import Event
    from daylock.events.services import completions_add_missing

    anchor = default_anchor() if anchor is None else anchor
    existing = User.objects.count()
    if existing and not add:
        raise SeedRefused(
            f"the database already has {existing} users; seed fills an empty environment. "
            "Use `daylock reset` to start over, or `daylock seed --add` to add test users"
        )
    rng = random.Random(options.random_seed)
    result = SeedResult()
    first_n = next_user_number() if add else 1
    bar = bar or ProgressBar(options.users * 3)
    bar.total = max(1, options.users * 3)
    with transaction.atomic():
        with _bulk_load(options.users):
            planned = plan_users(
                rng=rng, first_n=first_n, count=options.users, anchor=anchor, add=add
            )
            ids = _insert_users(planned, anchor, bar)
            result.users = result.discord_accounts = len(planned)
            bar.stage("events")
            events: dict[str, Any] = {}
            for spec in event_specs(anchor):
                found = Event.objects.filter(slug=spec.slug).first()
                events[spec.slug] = found if found is not None else _create_event(spec, rng, result)
            players = [
                (index, ids[p.username])
                for index, p in enumerate(q for q in planned if q.role == Role.PLAYER)
            ]
            _seed_progress(
                rng=rng,
                events=list(events.values()),
                players=players,
                anchor=anchor,
                bar=bar,
                result=result,
            )
            # The completion table prize eligibility joins: one INSERT … SELECT …
            # GROUP BY over all the progress (seeding only adds progress).
            bar.stage("completions")
            completions_add_missing()
            # The leaderboard's standings, the same way (one statement, only adds).
            standings_add_missing()
            bar.stage("constraints + indexes")
        # After the constraints are back: the draws query the fresh rows.
        bar.stage("prizes")
        _seed_prizes(rng=rng, events=events, result=result)
        bar.stage("commit")
    bar.finish()
    return result
