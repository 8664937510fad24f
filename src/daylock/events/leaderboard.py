"""The leaderboard of an event, as in Advent of Code's private leaderboards.

**Ranking.** One star per solved tier per day (days up to ``day_count``); more stars
rank higher, then less total time (the sum, over the stars, of whole seconds from the
day's unlock — :func:`daylock.events.models.unlock_instant` — to the solve), then the
earlier last solve, then the smaller user id (never shown: it only makes the order
total and stable). Ranks count listed players only: a hidden or banned player leaves
no gap that would give them away.

**Who is listed.** Each player picks on their profile how they appear
(:class:`~daylock.accounts.models.LeaderboardVisibility`): by Discord display name,
as "anonymous #n" (the default: nobody's Discord name is published without their
say, and a leaderboard that hid everyone by default would be empty) or not at all.
``n`` is numbered per event in order of first solve: stable, and unrelated to the
user id. Banned players are never listed.

**Writes** keep :class:`~daylock.events.models.LeaderboardEntry` true: one row per
player and event, computed from progress by one set-based statement per step
(PostgreSQL and SQLite), called by every writer of progress —
:func:`daylock.events.services.answer_submit` (:func:`standing_after_solve`),
:func:`daylock.events.services.completion_refresh` (:func:`standings_refresh`,
so the admin, the editor, packs, the demo data, the test utilities and the test
factories) and the seed's bulk load (:func:`standings_add_missing`).

**Reads** (:func:`leaderboard_get`) must stay cheap with 100,000 players: counting
the players ahead of someone in PostgreSQL walks every one of them (about 7 ms for
50,000 index entries here), and a hidden or banned player ahead costs a probe each.
So each process keeps a *snapshot* per event: the listed players' rank keys, sorted
(:func:`_build`: the event's rows and the few unlisted users, two statements). A page
then costs one statement — the event, the viewer as the database says now and their
own row — and a bisection for the viewer's rank. Every write of standings marks the
event's snapshot stale (a token in the cache, set after commit, read at most every
:attr:`Freshness.after_write_seconds`); a stale snapshot is rebuilt at most that often,
and any snapshot after :attr:`Freshness.max_age_seconds`. Who of the top is listed,
and their names, are read again after :attr:`Freshness.names_seconds`; a player
shown who is no longer listed (banned, hidden) rebuilds the snapshot at once. The
viewer's own line is always live, so a player sees their solve at once.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from time import monotonic

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.http import Http404

from daylock.accounts.models import DiscordAccount, LeaderboardVisibility, User
from daylock.accounts.names import cdn_avatar_url, name_shown
from daylock.events.models import (
    MAX_DAYS,
    Day,
    Event,
    LeaderboardEntry,
    Progress,
    Tier,
    unlock_instant,
)

#: How many players the page and the JSON list.
TOP = 100

_T = {
    "discord": DiscordAccount._meta.db_table,
    "entry": LeaderboardEntry._meta.db_table,
    "event": Event._meta.db_table,
    "progress": Progress._meta.db_table,
    "user": User._meta.db_table,
}

#: Whole seconds since the epoch of ``p.solved_at`` (floor), per database.
_EPOCH = {
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM p.solved_at)) AS BIGINT)",
    "sqlite": "CAST(strftime('%%s', p.solved_at) AS INTEGER)",
}

#: The standings that hold now, from progress. ``opens`` lists the counting days (up to
#: ``day_count``) with their event and unlock instant (epoch seconds, from
#: :func:`unlock_instant`: time zones are Python's business, not the database's).
#: ``{users}`` narrows it to an ``IN`` list or is empty.
_HOLDING = """
WITH opens (day_id, event_id, opens_at) AS ({opens}),
holding AS (
    SELECT o.event_id, p.user_id, COUNT(*) AS stars,
           SUM(CASE WHEN {epoch} > o.opens_at THEN {epoch} - o.opens_at ELSE 0 END)
               AS total_seconds,
           MAX(p.solved_at) AS last_solved_at, MIN(p.solved_at) AS first_solved_at
    FROM {progress} p JOIN opens o ON o.day_id = p.day_id
    WHERE 1 = 1{users}
    GROUP BY o.event_id, p.user_id
)
"""
#: Rows that exist and differ from what holds: corrected in place.
_UPDATE = """
UPDATE {entry} SET stars = h.stars, total_seconds = h.total_seconds,
                   last_solved_at = h.last_solved_at
FROM holding h
WHERE {entry}.event_id = h.event_id AND {entry}.user_id = h.user_id
  AND ({entry}.stars <> h.stars OR {entry}.total_seconds <> h.total_seconds
       OR {entry}.last_solved_at IS NULL OR {entry}.last_solved_at <> h.last_solved_at)
"""
#: Rows (of these events, of some users) whose progress is gone: 0 stars, row kept (the
#: anonymous number stays the player's).
_ZERO = """
UPDATE {entry} SET stars = 0, total_seconds = 0, last_solved_at = NULL
WHERE {entry}.event_id IN ({events}){plain_users}
  AND ({entry}.stars <> 0 OR {entry}.last_solved_at IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM holding h
                  WHERE h.event_id = {entry}.event_id AND h.user_id = {entry}.user_id)
"""
#: Players new to an event's leaderboard, numbered after the event's last anonymous
#: number in order of first solve. No ``ON CONFLICT`` (the seed runs it while its bulk
#: load has the constraints dropped); writers hold the event's row lock
#: (:func:`_lock_events`), so two inserts never pick the same numbers.
_INSERT = """
, numbered AS (
    SELECT event_id, MAX(anonymous_number) AS last_number FROM {entry} GROUP BY event_id
)
INSERT INTO {entry} (event_id, user_id, stars, total_seconds, last_solved_at, anonymous_number)
SELECT h.event_id, h.user_id, h.stars, h.total_seconds, h.last_solved_at,
       COALESCE(n.last_number, 0)
       + ROW_NUMBER() OVER (PARTITION BY h.event_id ORDER BY h.first_solved_at, h.user_id)
FROM holding h LEFT JOIN numbered n ON n.event_id = h.event_id
WHERE NOT EXISTS (SELECT 1 FROM {entry} e
                  WHERE e.event_id = h.event_id AND e.user_id = h.user_id)
"""
#: Few enough placeholders per statement for every SQLite build.
_USER_BATCH = 500


# --- writes ---------------------------------------------------------------------------


def _opens_sql(events: Iterable[int]) -> str:
    """The ``opens`` rows of these events' counting days as SQL (integers only, from the
    database: nothing to quote), or an empty row set of the same shape."""
    rows = (
        Day.objects.filter(event_id__in=list(events), number__lte=F("event__day_count"))
        .order_by("id")
        .values_list("id", "number", "event_id", "event__starts_on", "event__time_zone")
    )
    values = []
    for day_id, number, event_id, starts_on, time_zone in rows:
        event = Event(pk=event_id, starts_on=starts_on, time_zone=time_zone)
        opens_at = int(unlock_instant(event, number).timestamp())
        values.append(f"({int(day_id)}, {int(event_id)}, {opens_at})")
    if not values:
        return "SELECT CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) WHERE 1 = 0"
    return "VALUES " + ", ".join(values)


def _holding(*, events: Sequence[int], users: int) -> str:
    marks = ", ".join(["%s"] * users)
    return _HOLDING.format(
        opens=_opens_sql(events),
        epoch=_EPOCH[connection.vendor],
        users=f" AND p.user_id IN ({marks})" if users else "",
        **_T,
    )


def _lock_events(event_ids: Iterable[int]) -> None:
    """Hold these events' rows until the transaction ends (in id order): whoever adds
    players to an event's leaderboard numbers them after the last one. ``FOR NO KEY
    UPDATE`` leaves the foreign-key checks of rows referencing the event alone; a no-op
    on SQLite (one writer at a time)."""
    ids = sorted(set(event_ids))
    list(
        Event.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _mark_stale(event_ids: Iterable[int]) -> None:
    """After commit: the events' snapshots no longer match the table (every process sees
    a new token and rebuilds, see :func:`_snapshot`)."""
    ids = sorted(set(event_ids))

    def publish() -> None:
        cache.set_many({_version_key(event_id): uuid.uuid4().hex for event_id in ids}, None)

    if ids:
        transaction.on_commit(publish)


def standing_after_solve(*, user_id: int, event_id: int) -> None:
    """After ``user_id`` newly solved a challenge of ``event_id`` (in the transaction
    that recorded it, the user's row locked): their standing from their progress, in
    two statements. The event's row is locked only when the player is new to its
    leaderboard (to number them)."""
    holding = _holding(events=[event_id], users=1)
    with connection.cursor() as cursor:
        if LeaderboardEntry.objects.filter(user_id=user_id, event_id=event_id).exists():
            cursor.execute(holding + _UPDATE.format(**_T), [user_id])
        else:
            _lock_events([event_id])
            cursor.execute(holding + _INSERT.format(**_T), [user_id])
    _mark_stale([event_id])


def standings_refresh(*, event_id: int, user_ids: Iterable[int] | None = None) -> None:
    """Make the event's standings true again for these users (default: every player),
    after progress was written or deleted, or days, ``day_count``, the start date or
    the time zone changed. Called by :func:`daylock.events.services.completion_refresh`,
    which already locked the users' rows."""
    if user_ids is None:
        batches: list[list[int]] = [[]]
    else:
        ids = sorted(set(user_ids))
        if not ids:
            return
        batches = [ids[i : i + _USER_BATCH] for i in range(0, len(ids), _USER_BATCH)]
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_events([event_id])
        for batch in batches:
            holding = _holding(events=[event_id], users=len(batch))
            plain = ", ".join(["%s"] * len(batch))
            cursor.execute(holding + _UPDATE.format(**_T), batch)
            zero = _ZERO.format(
                events=int(event_id),
                plain_users=f" AND user_id IN ({plain})" if batch else "",
                **_T,
            )
            cursor.execute(holding + zero, [*batch, *batch])
            cursor.execute(holding + _INSERT.format(**_T), batch)
    _mark_stale([event_id])


def standings_add_missing() -> int:
    """Add the standings of every player of every event who has none yet, in ONE
    statement over the whole progress table; returns how many.

    The seed's bulk path, right after it loaded progress (which only adds): no ``ON
    CONFLICT``, so it runs while the bulk load has the table's constraints dropped.
    After anything else, use :func:`standings_refresh`.
    """
    event_ids = list(Event.objects.values_list("pk", flat=True))
    if not event_ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        _lock_events(event_ids)
        # A parameter list, even empty: Django's SQLite cursor then turns %% into %.
        cursor.execute(_holding(events=event_ids, users=0) + _INSERT.format(**_T), [])
        added: int = cursor.rowcount
    _mark_stale(event_ids)
    return max(added, 0)


def visibility_set(*, user: User, visibility: str) -> User:
    """How ``user`` appears on every leaderboard from now on. Raises ``ValueError`` for
    a value that is not a :class:`LeaderboardVisibility` (the view says which are)."""
    chosen = LeaderboardVisibility(visibility)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(leaderboard_visibility=chosen.value)
        user.leaderboard_visibility = chosen.value
        _mark_stale(
            LeaderboardEntry.objects.filter(user_id=user.pk).values_list("event_id", flat=True)
        )
    return user


# --- the snapshot ---------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    #: After a write of standings, a snapshot is rebuilt at most this often per process
    #: (a solve storm must not turn every page view into a rebuild).
    after_write_seconds: float = 5.0
    #: Any snapshot is rebuilt after this long, written to or not.
    max_age_seconds: float = 60.0
    #: Who of the top is listed (bans, hidden players) and their names are read again
    #: after this long.
    names_seconds: float = 1.0


FRESHNESS = Freshness()
#: Snapshots kept per process (least recently used dropped first).
_MAX_SNAPSHOTS = 16
_MAX_STARS = 2 * MAX_DAYS
_TOTAL_BITS, _INSTANT_BITS, _USER_BITS = 48, 64, 64
_USER_MASK = (1 << _USER_BITS) - 1
_TOTAL_MAX = (1 << _TOTAL_BITS) - 1


def rank_key(*, stars: int, total_seconds: int, last_solved_us: int, user_id: int) -> int:
    """The ranking as one integer, smaller ranking higher: more stars, less total time,
    earlier last solve (microseconds since the epoch), smaller user id (a sorted list of
    plain ints is a fraction of the memory of tuples, and bisects as fast)."""
    key = _MAX_STARS - stars
    key = (key << _TOTAL_BITS) | min(total_seconds, _TOTAL_MAX)
    key = (key << _INSTANT_BITS) | max(last_solved_us, 0)
    return (key << _USER_BITS) | user_id


@dataclass(frozen=True)
class _Top:
    user_id: int
    stars: int
    total_seconds: int
    anonymous_number: int


@dataclass
class _Snapshot:
    version: str
    built_at: float
    #: When the cache's token was last seen equal to ``version``.
    checked_at: float
    #: Rank keys of every listed player with a star, best first.
    keys: list[int]
    #: Each of those players' key by user id (to take the viewer's out of the count).
    key_of: dict[int, int]
    #: The first TOP + 1 players, best first (one more: the viewer may be among them).
    top: list[_Top]
    #: Who of ``top`` is listed and their names, read at ``people_at`` (see _people).
    people: dict[int, _Person] | None = None
    people_at: float = 0.0


_SNAPSHOTS: OrderedDict[int, _Snapshot] = OrderedDict()
_BUILD_LOCK = threading.Lock()

#: The last solve as whole microseconds since the epoch, computed by the database:
#: reading 100,000 timestamps into aware datetimes cost four times the rest of the read.
_LAST_SOLVED_US = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM s.last_solved_at) * 1000000 AS BIGINT)",
    # Django keeps SQLite datetimes as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    "sqlite": "(CAST(strftime('%%s', s.last_solved_at) AS INTEGER) * 1000000"
    " + CAST(substr(s.last_solved_at || '.000000', 21, 6) AS INTEGER))",
}
_COLUMNS = "s.user_id, s.stars, s.total_seconds, {last_solved_us}, s.anonymous_number"
#: Every player of the event with a star, in no order (Python sorts the keys). Reading
#: the event's rows alone and leaving out the few unlisted players in Python halves the
#: time of a join with every user.
_ENTRIES_SQL = "SELECT {columns} FROM {entry} s WHERE s.event_id = %s AND s.stars > 0"
#: Users no leaderboard lists: the condition of the partial index ``user_unlisted``,
#: word for word, with its constant inline (a bound parameter would not match it).
_UNLISTED_SQL = "SELECT id FROM {user} WHERE (is_banned OR leaderboard_visibility = 'hidden')"


def _sql(template: str) -> str:
    columns = _COLUMNS.format(last_solved_us=_LAST_SOLVED_US[connection.vendor])
    return template.format(columns=columns, person=_PERSON_COLUMNS, **_T)


def _version_key(event_id: int) -> str:
    return f"leaderboard:version:{event_id}"


def _version(event_id: int) -> str:
    """The event's current token (one cache read); a fresh one if the cache lost it."""
    key = _version_key(event_id)
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, None)
        token = cache.get(key)
    return str(token)


def _build(event_id: int, version: str) -> _Snapshot:
    with connection.cursor() as cursor:
        cursor.execute(_sql(_UNLISTED_SQL), [])
        unlisted = {user_id for (user_id,) in cursor.fetchall()}
        cursor.execute(_sql(_ENTRIES_SQL), [event_id])
        rows = cursor.fetchall()
    m = _MAX_STARS
    key_of = {  # rank_key, inline: a call per player cost as much as the rest
        user_id: ((((m - stars) << _TOTAL_BITS | min(total, _TOTAL_MAX)) << _INSTANT_BITS
                   | max(last, 0)) << _USER_BITS) | user_id
        for user_id, stars, total, last, _ in rows
        if user_id not in unlisted
    }  # fmt: skip
    keys = sorted(key_of.values())
    best = {key & _USER_MASK for key in keys[: TOP + 1]}
    anonymous = {row[0]: row[4] for row in rows if row[0] in best}
    top = []
    for key in keys[: TOP + 1]:
        user_id = key & _USER_MASK
        stars = _MAX_STARS - (key >> (_USER_BITS + _INSTANT_BITS + _TOTAL_BITS))
        total = (key >> (_USER_BITS + _INSTANT_BITS)) & _TOTAL_MAX
        top.append(_Top(user_id, stars, total, anonymous[user_id]))
    now = monotonic()
    return _Snapshot(version, built_at=now, checked_at=now, keys=keys, key_of=key_of, top=top)


def _snapshot(event_id: int, *, force: bool = False) -> _Snapshot:
    """This process's snapshot of the event, rebuilt when :data:`FRESHNESS` says so.

    The cache's token is read at most every ``after_write_seconds`` (a write is
    noticed that late at most, and rebuilt no more often): most page views cost no
    round trip here at all."""
    now = monotonic()
    current = _SNAPSHOTS.get(event_id)
    if current is not None and not force and now - current.built_at < FRESHNESS.max_age_seconds:
        if now - current.checked_at < FRESHNESS.after_write_seconds:
            return current
        if _version(event_id) == current.version:
            current.checked_at = now
            return current
    with _BUILD_LOCK:
        again = _SNAPSHOTS.get(event_id)
        if again is not None and again is not current and not force:
            return again  # another thread of this process just built it
        # The token first: a write committed during the build makes the next check
        # see another token.
        built = _build(event_id, _version(event_id))
        _SNAPSHOTS[event_id] = built
        _SNAPSHOTS.move_to_end(event_id)
        while len(_SNAPSHOTS) > _MAX_SNAPSHOTS:
            _SNAPSHOTS.popitem(last=False)
    return built


def snapshots_clear() -> None:
    """Forget this process's snapshots (tests; nothing else needs to)."""
    with _BUILD_LOCK:
        _SNAPSHOTS.clear()


# --- the read -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the leaderboard."""

    rank: int
    #: What everyone sees: a Discord display name or "anonymous #n".
    label: str
    anonymous: bool
    stars: int
    total_seconds: int
    #: Internal: to read the row's days for the JSON. Never shown or sent.
    user_id: int
    is_viewer: bool = False
    #: The player's Discord avatar, shown with their name; empty when anonymous.
    avatar_url: str = ""

    @property
    def total_time(self) -> str:
        return format_duration(self.total_seconds)


class ViewerState:
    """Why the viewer's own line looks as it does (the page explains each)."""

    LISTED = "listed"
    HIDDEN = "hidden"  # chose not to appear; shown the rank they would have
    BANNED = "banned"  # never listed, no rank
    NO_STARS = "no-stars"


@dataclass(frozen=True)
class ViewerStanding:
    state: str
    #: Their line (rank included) unless banned or without stars.
    row: Row | None
    visibility: str


@dataclass(frozen=True)
class Leaderboard:
    event: Event
    rows: list[Row]
    #: Listed players with at least one star.
    players: int
    #: None for a visitor who is not logged in.
    viewer: ViewerStanding | None


@dataclass(frozen=True)
class _Person:
    listed: bool
    visibility: str
    #: Their name and avatar as Discord shows them; read only for those shown by name.
    name: str
    avatar_url: str


#: Who a user is on a leaderboard, after the columns that say which user (see _person).
_PERSON_COLUMNS = """u.is_banned, u.leaderboard_visibility, u.username,
       d.discord_id, d.username, d.global_name, d.nick, d.avatar, d.guild_avatar"""


def _person(banned: bool, visibility: str, username: str, discord_id: str | None,
            discord_username: str | None, global_name: str | None, nick: str | None,
            avatar: str | None, guild_avatar: str | None) -> _Person:  # fmt: skip
    """Listed or not, and for a player shown by name, their name and avatar as Discord
    shows them (:mod:`daylock.accounts.names`; Daylock's username without a Discord
    account)."""
    listed = not banned and visibility != LeaderboardVisibility.HIDDEN
    if visibility != LeaderboardVisibility.NAME:
        return _Person(listed, visibility, "", "")
    if discord_id is None:
        return _Person(listed, visibility, username, "")
    name = name_shown(nick=nick, global_name=global_name, username=discord_username or username)
    avatar_url = cdn_avatar_url(discord_id=discord_id, avatar=avatar, guild_avatar=guild_avatar)
    return _Person(listed, visibility, name, avatar_url)


#: Whether each user is listed now, and their name and avatar.
_PEOPLE_SQL = """
SELECT u.id, {person}
FROM {user} u LEFT JOIN {discord} d ON d.user_id = u.id
WHERE u.id IN ({{ids}})
"""


def _people(snapshot: _Snapshot) -> dict[int, _Person]:
    """Who of the snapshot's top is listed, and their names: read at most every
    :attr:`Freshness.names_seconds` per snapshot (a ban, a hidden player or a new name
    shows that late at most)."""
    now = monotonic()
    if snapshot.people is not None and now - snapshot.people_at < FRESHNESS.names_seconds:
        return snapshot.people
    ids = sorted({entry.user_id for entry in snapshot.top})
    people: dict[int, _Person] = {}
    if ids:
        sql = _sql(_PEOPLE_SQL).replace("{ids}", ", ".join(["%s"] * len(ids)))
        with connection.cursor() as cursor:
            cursor.execute(sql, ids)
            people = {row[0]: _person(*row[1:]) for row in cursor.fetchall()}
    snapshot.people, snapshot.people_at = people, now
    return people


def _row(person: _Person, rank: int, anonymous_number: int, stars: int, total_seconds: int,
         user_id: int, *, is_viewer: bool = False) -> Row:  # fmt: skip
    """A line of the board: the player's name and avatar, or "anonymous #n"."""
    if person.visibility == LeaderboardVisibility.NAME:
        return Row(rank, person.name, False, stars, total_seconds, user_id, is_viewer,
                   person.avatar_url)  # fmt: skip
    label = f"anonymous #{anonymous_number}"
    return Row(rank, label, True, stars, total_seconds, user_id, is_viewer)


@dataclass(frozen=True)
class _Viewer:
    """The viewer as the database says at this request, and their own row."""

    user_id: int
    banned: bool
    person: _Person
    #: None without a star on this event.
    stars: int | None
    total_seconds: int
    last_solved_us: int
    anonymous_number: int


_EVENT_FIELDS = ("id", "slug", "name", "time_zone", "starts_on", "day_count", "published")
#: The event (published only) and, for a logged-in viewer, who they are now and their
#: own row: one round trip, like the day page's.
_PAGE_SQL = """
SELECT {{event_columns}}, u.id, {person}, {columns}
FROM {event} e
LEFT JOIN {user} u ON u.id = %(viewer)s
LEFT JOIN {discord} d ON d.user_id = u.id
LEFT JOIN {entry} s ON s.event_id = e.id AND s.user_id = u.id AND s.stars > 0
WHERE e.slug = %(slug)s AND e.published
"""


def _page_row(*, slug: str, viewer_id: int | None) -> tuple[Event, _Viewer | None]:
    sql = _sql(_PAGE_SQL).replace(
        "{event_columns}", ", ".join(f"e.{name}" for name in _EVENT_FIELDS)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"viewer": viewer_id, "slug": slug})
        found = cursor.fetchone()
    if found is None:
        raise Http404("no such event")
    width = len(_EVENT_FIELDS)
    event = Event.from_db(connection.alias, list(_EVENT_FIELDS), list(found[:width]))
    user_id, *person_columns = found[width : width + 10]
    if user_id is None:
        return event, None
    person = _person(*person_columns)
    _, stars, total, last_us, number = found[width + 10 :]
    banned = bool(person_columns[0])
    viewer = _Viewer(user_id, banned, person, stars, total or 0, last_us or 0, number or 0)
    return event, viewer


def leaderboard_get(*, slug: str, viewer: User | None, top: int = TOP) -> Leaderboard:
    """The first ``top`` listed players of the published event ``slug`` (404 for any
    other) and, for a logged-in viewer, their own standing, read live: a player sees
    their solve at once, wherever they rank. Everything about the viewer comes from
    the database at this request, not from ``viewer``, which only says who it is."""
    event, me = _page_row(slug=slug, viewer_id=viewer.pk if viewer is not None else None)
    top = min(top, TOP)
    snapshot = _snapshot(event.pk)
    board = _assemble(event, snapshot, _people(snapshot), me, top, strict=True)
    if board is None:
        # Someone to be shown is no longer listed (banned, hidden or deleted since the
        # snapshot): rebuild it now rather than show them. Whoever changes again
        # between the rebuild and the check is left out of the rows.
        snapshot = _snapshot(event.pk, force=True)
        board = _assemble(event, snapshot, _people(snapshot), me, top, strict=False)
    assert board is not None
    return board


def _assemble(
    event: Event,
    snapshot: _Snapshot,
    people: dict[int, _Person],
    me: _Viewer | None,
    top: int,
    *,
    strict: bool,
) -> Leaderboard | None:
    """The page from a snapshot, who is listed and the viewer's live row; None when
    ``strict`` and a player to be shown is no longer listed."""
    viewer_id = me.user_id if me is not None else None
    others = [entry for entry in snapshot.top if entry.user_id != viewer_id]
    players = len(snapshot.keys) - (1 if viewer_id in snapshot.key_of else 0)
    rank = None
    if me is not None and me.stars is not None:
        key = rank_key(stars=me.stars, total_seconds=me.total_seconds,
                       last_solved_us=me.last_solved_us, user_id=me.user_id)  # fmt: skip
        stale = snapshot.key_of.get(me.user_id)
        ahead = bisect.bisect_left(snapshot.keys, key)
        if stale is not None and stale < key:
            ahead -= 1  # their own old line is not someone ahead of them
        rank = ahead + 1
    listed_me = me is not None and me.person.listed and rank is not None
    shown: list[_Top | None] = list(others)
    if listed_me and rank is not None and rank <= top:
        shown.insert(rank - 1, None)  # None: the viewer, from their live row
    shown = shown[:top]
    players += 1 if listed_me else 0
    ids = [entry.user_id for entry in shown if entry is not None]
    gone = {user_id for user_id in ids if user_id not in people or not people[user_id].listed}
    if gone and strict:
        return None
    rows: list[Row] = []
    for entry in shown:
        if entry is None:
            assert me is not None and me.stars is not None
            rows.append(_row(me.person, len(rows) + 1, me.anonymous_number, me.stars,
                             me.total_seconds, me.user_id, is_viewer=True))  # fmt: skip
        elif entry.user_id not in gone:
            rows.append(_row(people[entry.user_id], len(rows) + 1, entry.anonymous_number,
                             entry.stars, entry.total_seconds, entry.user_id))  # fmt: skip
    standing = None
    if me is not None:
        visibility = me.person.visibility
        if me.banned:
            standing = ViewerStanding(ViewerState.BANNED, None, visibility)
        elif me.stars is None or rank is None:
            standing = ViewerStanding(ViewerState.NO_STARS, None, visibility)
        else:
            row = _row(me.person, rank, me.anonymous_number, me.stars, me.total_seconds,
                       me.user_id, is_viewer=True)  # fmt: skip
            state = ViewerState.LISTED if me.person.listed else ViewerState.HIDDEN
            standing = ViewerStanding(state, row, visibility)
    return Leaderboard(event=event, rows=rows, players=players, viewer=standing)


def days_solved(*, event: Event, user_ids: Sequence[int]) -> dict[int, dict[int, list[str]]]:
    """Per user, the tiers solved on each counting day (normal first), for the JSON.

    The event's day ids are read first, so that the progress read is a lookup of
    (user, day) pairs in progress's unique index, not a join over the event's
    hundreds of thousands of rows."""
    numbers = dict(
        Day.objects.filter(event=event, number__lte=event.day_count).values_list("pk", "number")
    )
    found = Progress.objects.filter(user_id__in=list(user_ids), day_id__in=list(numbers)).order_by()
    order = {tier.value: index for index, tier in enumerate(Tier)}
    days: dict[int, dict[int, list[str]]] = {}
    for user_id, day_id, tier in found.values_list("user_id", "day_id", "tier"):
        days.setdefault(user_id, {}).setdefault(numbers[day_id], []).append(tier)
    for per_day in days.values():
        for tiers in per_day.values():
            tiers.sort(key=order.__getitem__)
    return days


def format_duration(seconds: int) -> str:
    """``12:03:04`` or, from a day on, ``2d 03:04:05`` (hours, minutes, seconds)."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock
