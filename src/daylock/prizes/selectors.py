"""Reads of the prizes app: draw pages, the public record, verification, my prizes."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from psycopg.rows import scalar_row

from daylock import clock, config
from daylock.accounts.models import DiscordAccount, User
from daylock.accounts.names import display_name, linked_account, user_display_name
from daylock.discord.membership import Freshness, membership_freshness
from daylock.events.models import (
    EligibilityOverride,
    Event,
    EventCompletion,
    Feedback,
    Progress,
    Tier,
    unlock_instant,
)
from daylock.events.selectors import eligible_user_ids
from daylock.prizes import draw as algorithm
from daylock.prizes.models import (
    Draw,
    DrawEntrantList,
    DrawStatus,
    DrawWinner,
    Fulfilment,
    Prize,
    PrizeCode,
    WinnerStatus,
)

#: Bytes per database round trip when streaming ``entrants.txt`` (~140,000 entrants).
ENTRANTS_CHUNK_BYTES = 1 << 20
#: Rows per batch when streaming the eligibility query (about 16 batches per million).
STREAM_BATCH = 65_536
#: Share of the entrant list the run ranks in CPython while PostgreSQL ranks the rest on
#: the other core (:func:`first_ranks`). Per entrant CPython's sha256 and heap take about
#: 0.5 µs here, PostgreSQL's query about 0.8 µs, so both finish together at about 0.62.
PYTHON_SHARE = 0.62


def binary_cursor() -> psycopg.Cursor[Any]:
    """A psycopg cursor on Django's connection (same session and transaction) that binds
    parameters on the server and can return binary results.

    Django's own cursors bind on the client and read text: a million entrants' 7 MB
    ``bytea`` crosses as 14 MB of hex, ~0.15 s to write and ~0.06 s to read against
    ~0.04 s and ~0.01 s in binary. PostgreSQL only; it bypasses Django's query logging.
    """
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def eligible_entrant_batches(*, prize: Prize) -> Generator[list[int], None, None]:
    """The ids of the users who enter ``prize``'s draw if entries close now, in batches as
    they come off the eligibility query: in no promised order (see below).

    On PostgreSQL the rows are streamed (libpq's chunked rows, binary) so the caller can
    work on a batch while the query produces the next: closing entries encodes them as
    they arrive (:func:`daylock.prizes.draw.freeze_entrants`), on the second core. For
    that the query must return rows as it finds them, so it runs without the selector's
    ``ORDER BY`` (a sort reads every row before returning the first; the caller checks
    the order and sorts only if needed, and the merge joins PostgreSQL picks for a
    million entrants return them ascending) and without parallel workers (they would
    take the core the caller works on). JIT is off: compiling this one query takes
    ~0.1 s and saves nothing. Those are ``SET LOCAL``: call this in a transaction, and
    consume the batches, or close the generator, before using the connection again:
    psycopg holds the connection's lock while the rows stream, so a rollback after an
    abandoned stream waits for ever. Use ``with contextlib.closing(...)``: closing ends
    the stream here (psycopg cancels the query, reads what is left and releases the
    connection) whatever interrupted the consumer.
    """
    eligible = eligible_user_ids(
        event=prize.event, min_tier=Tier(prize.min_tier), feedback_required=prize.feedback_required
    ).order_by()
    if connection.vendor != "postgresql":
        yield list(eligible)
        return
    sql, params = eligible.query.sql_with_params()
    with binary_cursor() as cursor:
        cursor.row_factory = scalar_row
        if connection.in_atomic_block:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        if psycopg.pq.version() >= 170000:  # chunked rows need libpq 17
            # A generator function (typed as an iterator): closing it is what ends it.
            rows = cast(
                Generator[int, None, None],
                cursor.stream(sql, params, binary=True, size=STREAM_BATCH),
            )
        else:  # the whole result, then batches: correct, only nothing overlaps
            rows = (row for row in cursor.execute(sql, params, binary=True))
        # Closed explicitly, not left to the garbage collector: an exception's traceback
        # keeps this frame, and so the suspended stream and its lock, alive.
        with contextlib.closing(rows):
            while batch := list(itertools.islice(rows, STREAM_BATCH)):
                yield batch


def entrants_encoded(draw: Draw) -> bytes:
    """The frozen entrant list's canonical encoding (``entrants.txt``), as stored.

    Raises ``DrawEntrantList.DoesNotExist`` while entries are open.
    """
    if connection.vendor == "postgresql":
        table = DrawEntrantList._meta.db_table
        with binary_cursor() as cursor:
            cursor.execute(
                f"SELECT encoded FROM {table} WHERE draw_id = %s",  # noqa: S608 - our table
                [draw.pk],
                binary=True,
            )
            row = cursor.fetchone()
        if row is None:
            raise DrawEntrantList.DoesNotExist(f"draw {draw.pk} has no entrant list")
        return bytes(row[0])
    return bytes(DrawEntrantList.objects.values_list("encoded", flat=True).get(draw=draw))


#: Ranks 1..k of the entrants in the stored encoding from byte ``start`` (1-based) on,
#: with the published key: sha256(seed ":" id), ties by the smaller id. The lines are the
#: decimal ids the key hashes, hashed as they are (digits only, which the text-to-bytea
#: cast keeps byte for byte; ~15 % faster than convert_to()). The lines are split in the
#: select list, where unnest() hands them on one by one: split in FROM, every line is
#: first written to a tuplestore, which spills to disk past work_mem (2.4x slower).
_RANK_IN_POSTGRESQL = """
SELECT line::bigint
FROM (
    SELECT unnest(string_to_array(
        convert_from(substr(encoded, %(start)s), 'SQL_ASCII'), E'\\n'
    )) AS line
    FROM {table}
    WHERE draw_id = %(draw)s
) AS entrants
WHERE line <> ''
ORDER BY sha256(%(prefix)s || line::bytea), line::bigint
LIMIT %(k)s
"""


def first_ranks(*, draw: Draw, k: int) -> list[int]:
    """Ranks 1..k of the draw's ranking (fewer if there are fewer entrants), computed now
    from the stored entrant list and the seed.

    On PostgreSQL the list is cut in two at a line: CPython ranks the first
    ``PYTHON_SHARE`` of it (:func:`daylock.prizes.draw.winners_from_encoding`) while, in a
    thread on the same connection and transaction, PostgreSQL ranks the rest in SQL on
    the other core: ~0.3 s for a million entrants instead of ~0.5 s in CPython alone
    (when the other core is free).
    The k best of each part hold the k best of all; the definition
    (:func:`daylock.prizes.draw.winners`) orders the at most 2k candidates, so the SQL
    only has to find its part's k best. psycopg connections are thread-safe; this thread
    only hashes while the other one holds the connection, and any exception here
    (``KeyboardInterrupt`` included) cancels the query before it propagates, so the
    transaction can roll back at once. ``draw verify`` recomputes the whole ranking with
    the plain definition instead.
    """
    if k <= 0:
        return []
    encoded = entrants_encoded(draw)
    if connection.vendor != "postgresql" or not encoded:
        return algorithm.winners_from_encoding(draw.seed, encoded, k)
    # The end of the line holding byte PYTHON_SHARE · length: CPython takes [0, cut).
    share_end = min(int(len(encoded) * PYTHON_SHARE), len(encoded) - 1)
    cut = encoded.index(b"\n", share_end) + 1
    raw = connection.connection
    query = _RANK_IN_POSTGRESQL.format(table=DrawEntrantList._meta.db_table)
    params = {
        "start": cut + 1,
        "draw": draw.pk,
        "prefix": f"{draw.seed}:".encode("ascii"),
        "k": k,
    }

    def rank_the_rest() -> list[int]:
        with psycopg.Cursor(raw) as cursor:
            cursor.row_factory = scalar_row
            return list(cursor.execute(query, params))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="draw-rank") as pool:
        in_postgresql = pool.submit(rank_the_rest)
        try:
            in_python = algorithm.winners_from_encoding(draw.seed, encoded[:cut], k)
            candidates = in_python + in_postgresql.result()
        except BaseException:
            raw.cancel_safe()
            raise
    return algorithm.winners(draw.seed, candidates, k)


def entrant_ids(draw: Draw) -> list[int]:
    """The frozen entrant list, ascending (what ``entrants.txt`` encodes).

    Raises ``ValueError`` if the stored encoding is not canonical.
    """
    return algorithm.decode_entrants(entrants_encoded(draw))


def draws_list() -> QuerySet[Draw]:
    """Every draw, oldest first, with ``current_winners`` (picks still standing)."""
    return (
        Draw.objects.select_related("prize__event")
        .annotate(current_winners=Count("winners", filter=Q(winners__status=WinnerStatus.WON)))
        .order_by("id")
    )


def draw_get(*, draw_id: int) -> Draw:
    """Raises ``Draw.DoesNotExist`` for an unknown id."""
    return Draw.objects.select_related("prize__event").get(pk=draw_id)


def prize_get(*, prize_id: int) -> Prize:
    return Prize.objects.select_related("event").get(pk=prize_id)


def prizes_for_event(*, event: Event) -> QuerySet[Prize]:
    return Prize.objects.filter(event=event).select_related("draw").order_by("id")


def draws_by_event(*, event_ids: Sequence[int]) -> dict[int, list[Draw]]:
    """The draws of these events (their ``prize`` loaded), by event id, in the order
    the prizes were created: the links to their public pages (one query, none for no
    event)."""
    if not event_ids:
        return {}
    found: dict[int, list[Draw]] = {}
    draws = Draw.objects.filter(prize__event_id__in=event_ids).select_related("prize")
    for draw in draws.order_by("prize_id"):
        found.setdefault(draw.prize.event_id, []).append(draw)
    return found


def events_with_prize_counts() -> QuerySet[Event]:
    """Every event, newest first, with ``prize_count``."""
    return Event.objects.annotate(prize_count=Count("prizes")).order_by("-starts_on", "slug")


@dataclass(frozen=True)
class CodeInventory:
    total: int
    assigned: int
    available: int  # unassigned and not a test code: what production hands out
    test: int


def code_inventory(*, prize: Prize) -> CodeInventory:
    """Counts only — never the codes themselves."""
    counts = PrizeCode.objects.filter(prize=prize).aggregate(
        total=Count("id"),
        assigned=Count("id", filter=Q(assigned_to__isnull=False)),
        available=Count("id", filter=Q(assigned_to__isnull=True, is_test=False)),
        test=Count("id", filter=Q(is_test=True)),
    )
    return CodeInventory(**counts)


def draw_winners(*, draw: Draw) -> QuerySet[DrawWinner]:
    return (
        DrawWinner.objects.filter(draw=draw)
        .select_related("user__discord", "replaces", "code")
        .order_by("rank")
    )


def winner_label(winner: DrawWinner) -> str:
    """How a winner is shown publicly: by the name Discord shows for them
    (:func:`daylock.accounts.names.display_name`), else by their entrant id."""
    discord = linked_account(winner.user)
    return display_name(discord) if discord is not None else f"user {winner.user_id}"


def draw_public_record(*, draw: Draw) -> dict[str, Any]:
    """Everything the public page shows, as plain data (also served as JSON).

    The seed is included only once the draw has been run.
    """
    drawn = draw.status == DrawStatus.DRAWN
    winners = list(draw_winners(draw=draw)) if drawn else []
    return {
        "draw": draw.pk,
        "prize": draw.prize.name,
        "event": draw.prize.event.name,
        "status": draw.status,
        "simulated": draw.simulated,
        "environment": draw.environment,
        "seed_hash": draw.seed_hash,
        "entrants_hash": draw.entrants_hash or None,
        "entrant_count": draw.entrant_count,
        "winners_wanted": draw.winners_wanted,
        "closed_at": draw.closed_at.isoformat() if draw.closed_at else None,
        # Closing against the rules is public: days still locked, membership not
        # synced recently, and the reason staff gave.
        "closed_early": draw.closed_early,
        "locked_days": list(draw.locked_days),
        "members_synced_at": (
            draw.members_synced_at.isoformat() if draw.members_synced_at else None
        ),
        "membership_stale": draw.membership_stale,
        "close_reason": draw.close_reason or None,
        "drawn_at": draw.drawn_at.isoformat() if draw.drawn_at else None,
        "seed": draw.public_seed,
        "winners": [
            {
                "rank": w.rank,
                "user_id": w.user_id,
                "name": winner_label(w),
                "status": w.status,
                "reason": w.reason,
                "replaces_rank": w.replaces.rank if w.replaces is not None else None,
            }
            for w in winners
        ],
        "algorithm": {
            "seed_hash": "sha256(seed as ASCII hex text)",
            "entrants": "ascending decimal user ids, each followed by \\n (= entrants.txt)",
            "key": 'sha256(seed + ":" + decimal user id), ascending; ties by smaller id',
            "winners": "ranks 1..winners_wanted; each reroll takes the next rank",
        },
    }


def entrants_text_chunks(*, draw: Draw) -> Iterator[bytes]:
    """The canonical entrant encoding, streamed (its sha256 is ``entrants_hash``).

    Slices of the stored value, one query each: the column is stored uncompressed, so
    PostgreSQL reads only the slice asked for.
    """
    table = DrawEntrantList._meta.db_table
    sql = f"SELECT substr(encoded, %s, %s) FROM {table} WHERE draw_id = %s"  # noqa: S608
    start = 1
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [start, ENTRANTS_CHUNK_BYTES, draw.pk])
            row = cursor.fetchone()
        chunk = bytes(row[0]) if row is not None else b""
        if not chunk:
            return
        yield chunk
        start += len(chunk)


@dataclass(frozen=True)
class Verification:
    draw_id: int
    problems: list[str]
    summary: str

    @property
    def ok(self) -> bool:
        return not self.problems


def draw_verify(*, draw: Draw) -> Verification:
    """Recompute the draw from the stored entrant list and seed (pure Python, hashlib).

    Independent of how the draw was run (the run may rank inside PostgreSQL).
    """
    if draw.status == DrawStatus.OPEN:
        problems = []
        if algorithm.seed_hash(draw.seed) != draw.seed_hash:
            problems.append(f"seed hash: stored {draw.seed_hash} does not match the stored seed")
        if DrawEntrantList.objects.filter(draw=draw).exists():
            problems.append("entrant list: stored while entries are still open")
        return Verification(draw.pk, problems, f"draw {draw.pk} is open: seed hash only")
    try:
        entrants = entrant_ids(draw)
    except (DrawEntrantList.DoesNotExist, ValueError) as exc:
        return Verification(draw.pk, [str(exc)], f"draw {draw.pk}: no valid entrant list")
    picks = [
        algorithm.Pick(
            rank=w.rank,
            user_id=w.user_id,
            rerolled=w.status != WinnerStatus.WON,
            replaces_rank=w.replaces.rank if w.replaces is not None else None,
        )
        for w in DrawWinner.objects.filter(draw=draw).select_related("replaces")
    ]
    problems = algorithm.verify(
        seed=draw.seed,
        seed_hash_stored=draw.seed_hash,
        entrants=entrants,
        entrants_hash_stored=draw.entrants_hash,
        entrant_count=draw.entrant_count or 0,
        winners_wanted=draw.winners_wanted or 0,
        picks=picks,
        drawn=draw.status == DrawStatus.DRAWN,
    )
    rerolls = sum(1 for p in picks if p.replaces_rank is not None)
    summary = (
        f"draw {draw.pk} ({draw.status}): seed hash, entrants hash, "
        f"{draw.entrant_count} entrant(s) and {len(picks)} pick(s) "
        f"({rerolls} reroll(s)) match the recomputed ranking"
    )
    return Verification(draw.pk, problems, summary)


@dataclass(frozen=True)
class MyPrize:
    winner: DrawWinner
    #: What the winner sees as the code: the real one only for a real (production) win.
    code_shown: str | None


def my_prizes(*, user: User) -> list[MyPrize]:
    """The user's wins (including rerolled ones, so they know what happened)."""
    rows = (
        DrawWinner.objects.filter(user=user)
        .select_related("draw__prize__event", "code")
        .order_by("-draw__drawn_at", "-id")
    )
    result = []
    for winner in rows:
        shown: str | None = None
        if winner.draw.prize.fulfilment == Fulfilment.CODE and winner.status == WinnerStatus.WON:
            if winner.simulated or config.policy().simulated_prizes:
                shown = winner.placeholder_code
            elif winner.code is not None:
                shown = winner.code.code
        result.append(MyPrize(winner, shown))
    return result


#: How long a lookup in a frozen entrant list is remembered (the list never changes;
#: its key names the list's hash, so a list written again after a reset is not confused).
LISTED_CACHE_SECONDS = 7 * 24 * 3600


def _listed_key(draw: Draw, user_id: int) -> str:
    return f"prizes:listed:{draw.pk}:{draw.entrants_hash[:16]}:{user_id}"


#: The draws (of those given) whose stored encoding holds ``needle`` (the entrant's line
#: with the newline before it) or begins with ``head`` (the entrant's line): the first
#: line has no newline before it. A byte search, reading the whole list on each call;
#: about 10 ms for a million entrants here, hence :data:`LISTED_CACHE_SECONDS`.
_LISTED_SQL = {
    "postgresql": (
        "SELECT draw_id FROM {table} WHERE draw_id = ANY(%(draws)s) "
        "AND (position(%(needle)s IN encoded) > 0 OR substr(encoded, 1, %(length)s) = %(head)s)"
    ),
    "sqlite": (
        "SELECT draw_id FROM {table} WHERE draw_id IN (SELECT value FROM json_each(%(draws)s)) "
        "AND (instr(encoded, %(needle)s) > 0 OR substr(encoded, 1, %(length)s) = %(head)s)"
    ),
}


def entrant_listed(*, draws: Sequence[Draw], user_id: int) -> set[int]:
    """Ids of the draws, among these draws with entries closed, whose ``entrants.txt``
    lists ``user_id`` (an entrant id is the user id): what ``grep -x`` on the file
    says, read in the database without sending the list here. One query for the draws
    not looked up before, none when all were (the cache); open draws are skipped."""
    closed = [draw for draw in draws if draw.status != DrawStatus.OPEN and draw.entrants_hash]
    if not closed:
        return set()
    known = cache.get_many([_listed_key(draw, user_id) for draw in closed])
    listed = {draw.pk for draw in closed if known.get(_listed_key(draw, user_id)) == 1}
    unknown = [draw for draw in closed if _listed_key(draw, user_id) not in known]
    if not unknown:
        return listed
    line = str(user_id).encode("ascii") + b"\n"
    sql = _LISTED_SQL[connection.vendor].format(table=DrawEntrantList._meta.db_table)
    ids = [draw.pk for draw in unknown]
    params = {
        "draws": ids if connection.vendor == "postgresql" else json.dumps(ids),
        "needle": b"\n" + line,
        "head": line,
        "length": len(line),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0] for row in cursor.fetchall()}
    cache.set_many(
        {_listed_key(draw, user_id): int(draw.pk in found) for draw in unknown},
        LISTED_CACHE_SECONDS,
    )
    return listed | found


# --- before entries close ----------------------------------------------------------------


@dataclass(frozen=True)
class LockedDay:
    number: int
    unlocks_at: datetime  # UTC


@dataclass(frozen=True)
class CloseBlockers:
    """What says entries should not close yet: days still locked (players could still
    solve them) and guild membership not synced recently (departed members could enter).
    Staff may close anyway with a published reason."""

    event: Event
    locked: list[LockedDay]
    membership: Freshness

    @property
    def problems(self) -> list[str]:
        problems = []
        if self.locked:
            first = self.locked[0]
            local = first.unlocks_at.astimezone(self.event.zone)
            numbers = ", ".join(str(day.number) for day in self.locked)
            which = f"day {numbers} is" if len(self.locked) == 1 else f"days {numbers} are"
            problems.append(
                f"{which} still locked in {self.event.name} (day {first.number} unlocks "
                f"{local:%Y-%m-%d %H:%M} {self.event.time_zone}): closing now shuts out "
                "players who still have days to solve"
            )
        if self.membership.problem is not None:
            problems.append(self.membership.problem)
        return problems


def close_blockers(*, prize: Prize) -> CloseBlockers:
    """Why ``prize``'s entries should not close now (none: they may). Days are judged by
    ``clock.now()`` (staging's moved clock included), membership by wall time."""
    event = prize.event
    now = clock.now()
    locked = [
        LockedDay(number, unlock_instant(event, number))
        for number in range(1, event.day_count + 1)
        if unlock_instant(event, number) > now
    ]
    return CloseBlockers(event=event, locked=locked, membership=membership_freshness())


#: Excluded users listed on the staff prize page (the count says how many in all).
EXCLUSIONS_SHOWN = 200


@dataclass(frozen=True)
class Exclusion:
    user_id: int
    name: str
    reason: str
    #: When it started, where known (leaving the guild).
    since: datetime | None = None


@dataclass(frozen=True)
class Exclusions:
    #: Users who completed the event as the prize asks but would not enter its draw now,
    #: at most :data:`EXCLUSIONS_SHOWN`, by id.
    rows: list[Exclusion]
    total: int
    #: Players with progress in the event who have not completed it as the prize asks.
    not_completed: int


def prize_exclusions(*, prize: Prize) -> Exclusions:
    """Who would not enter ``prize``'s draw if entries closed now, and why — the same
    rules as :func:`daylock.events.selectors.eligible_user_ids` (an override of the test
    utilities replaces them, where the policy honours overrides), spelled out for staff:
    left the guild (and when), banned, deactivated, no Discord account, no feedback."""
    event = prize.event
    min_tier = Tier(prize.min_tier)
    tiers = [Tier.VETERAN] if min_tier is Tier.VETERAN else [Tier.NORMAL, Tier.VETERAN]
    completed = EventCompletion.objects.filter(event=event, tier__in=tiers).values("user_id")
    in_guild = Exists(DiscordAccount.objects.filter(user=OuterRef("pk"), in_guild=True))
    feedback = Exists(Feedback.objects.filter(user=OuterRef("pk"), event=event))
    out_by_rules = Q(is_active=False) | Q(is_banned=True) | Q(~in_guild)
    if prize.feedback_required:
        out_by_rules |= Q(~feedback)
    rules: Q = Q(pk__in=completed) & out_by_rules
    overrides: dict[int, EligibilityOverride] = {}
    if config.policy().test_utilities:
        overrides = {o.user_id: o for o in EligibilityOverride.objects.filter(event=event)}
    if overrides:
        forced_out = [uid for uid, o in overrides.items() if not o.eligible]
        rules = (rules & ~Q(pk__in=list(overrides))) | Q(pk__in=forced_out)
    excluded = (
        User.objects.filter(rules)
        .select_related("discord")
        .annotate(gave_feedback=feedback)
        .order_by("id")
    )
    rows = [_exclusion(user, overrides.get(user.pk), prize) for user in excluded[:EXCLUSIONS_SHOWN]]
    participants = Progress.objects.filter(day__event=event).values("user_id")
    not_completed = (
        User.objects.filter(pk__in=participants)
        .exclude(pk__in=completed)
        .exclude(pk__in=[uid for uid, o in overrides.items() if o.eligible])
    ).count()
    return Exclusions(rows=rows, total=excluded.count(), not_completed=not_completed)


def _exclusion(user: User, override: EligibilityOverride | None, prize: Prize) -> Exclusion:
    account = linked_account(user)
    name = user_display_name(user)
    if override is not None:
        why = f": {override.reason}" if override.reason else ""
        return Exclusion(user.pk, name, f"excluded by a staff override (test utility){why}")
    if not user.is_active:
        return Exclusion(user.pk, name, "account deactivated")
    if user.is_banned:
        return Exclusion(user.pk, name, "banned")
    if account is None:
        return Exclusion(user.pk, name, "no Discord account linked")
    if not account.in_guild:
        if account.left_guild_at is not None:
            return Exclusion(
                user.pk,
                name,
                f"left the guild at {account.left_guild_at:%Y-%m-%d %H:%M} UTC",
                since=account.left_guild_at,
            )
        return Exclusion(user.pk, name, "not a member of the guild")
    if prize.feedback_required and not getattr(user, "gave_feedback", True):
        return Exclusion(user.pk, name, "no feedback on the event or one of its days")
    return Exclusion(user.pk, name, "not eligible")
