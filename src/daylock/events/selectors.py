"""Reads: what a player may see, their completion, and prize eligibility.

:func:`eligible_user_ids` is the interface the prizes app draws from;
:mod:`daylock.events.eligibility` applies the same rules to one player and says why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.http import Http404

from daylock import clock, config
from daylock.accounts.models import DiscordAccount, User
from daylock.events import schedule, timelock
from daylock.events.models import (
    MAX_DAYS,
    Challenge,
    Day,
    DayUnlock,
    EligibilityOverride,
    Event,
    EventCompletion,
    Feedback,
    Progress,
    Tier,
)


def events_published() -> QuerySet[Event]:
    return Event.objects.filter(published=True).order_by("-starts_on", "slug")


def event_get(*, slug: str) -> Event:
    """A published event, or 404 (unpublished events are invisible outside the admin)."""
    try:
        return events_published().get(slug=slug)
    except Event.DoesNotExist:
        raise Http404("no such event") from None


def day_get_open(*, event: Event, number: int, user_id: int | None) -> Day:
    """The day if it is open for this user; 404 otherwise, exactly as if it did not
    exist (a locked day's title is not revealed, not even by the status code)."""
    if not 1 <= number <= event.day_count:
        raise Http404("no such day")
    try:
        day = Day.objects.select_related("event").get(event=event, number=number)
    except Day.DoesNotExist:
        raise Http404("no such day") from None
    if not timelock.is_open(day, user_id=user_id):
        raise Http404("no such day")
    return day


# --- the day page (the most requested page) ------------------------------------------


@dataclass(frozen=True)
class DayPage:
    """Everything the day page shows for one visitor, read by :func:`day_page_get`."""

    event: Event
    #: ``day.event`` is ``event``.
    day: Day
    #: The day's challenges by tier, normal first. Their ``answer`` is not loaded.
    challenges: dict[Tier, Challenge]
    #: Tiers this visitor has solved on this day (empty for anonymous visitors).
    solved: frozenset[Tier]
    #: This visitor's rating of this day, if they gave feedback.
    feedback_rating: int | None


_EVENT_FIELDS = ("id", "slug", "name", "time_zone", "starts_on", "day_count", "published")
_DAY_FIELDS = ("id", "event_id", "number", "title", "body_markdown")
_CHALLENGE_FIELDS = ("id", "day_id", "tier", "prompt")
#: One row per challenge (one row with NULL challenge columns for a day without any).
#: Each column is named ``<model>__<field>`` or after what it says.
_DAY_PAGE_SQL = """
SELECT {event_columns}, {day_columns}, {challenge_columns},
       EXISTS (SELECT 1 FROM {progress} p
               WHERE p.user_id = %(user_id)s AND p.day_id = d.id AND p.tier = c.tier) AS solved,
       (SELECT f.rating FROM {feedback} f
        WHERE f.user_id = %(user_id)s AND f.day_id = d.id) AS feedback_rating,
       {unlocked} AS unlocked_early
FROM {event} e
JOIN {day} d ON d.event_id = e.id
LEFT JOIN {challenge} c ON c.day_id = d.id
WHERE e.slug = %(slug)s AND e.published AND d.number = %(number)s AND d.number <= e.day_count
"""


def _day_page_sql(*, early_unlocks: bool) -> str:
    unlocked = (
        f"EXISTS (SELECT 1 FROM {DayUnlock._meta.db_table} u WHERE u.day_id = d.id "  # noqa: S608
        "AND (u.user_id IS NULL OR u.user_id = %(user_id)s))"
    )
    return _DAY_PAGE_SQL.format(
        event_columns=", ".join(f"e.{f} AS event__{f}" for f in _EVENT_FIELDS),
        day_columns=", ".join(f"d.{f} AS day__{f}" for f in _DAY_FIELDS),
        challenge_columns=", ".join(f"c.{f} AS challenge__{f}" for f in _CHALLENGE_FIELDS),
        unlocked=unlocked if early_unlocks else "FALSE",
        event=Event._meta.db_table,
        day=Day._meta.db_table,
        challenge=Challenge._meta.db_table,
        progress=Progress._meta.db_table,
        feedback=Feedback._meta.db_table,
    )


#: By whether early unlocks (a test utility) can exist: only where the policy has
#: ``test_utilities``; elsewhere the statement does not read them.
_DAY_PAGE = {early: _day_page_sql(early_unlocks=early) for early in (True, False)}


def day_page_get(*, slug: str, number: int, user_id: int | None) -> DayPage:
    """The day page's data if the day is open for this user (None: an anonymous
    visitor); 404 otherwise, exactly like :func:`event_get` + :func:`day_get_open`
    (unpublished event, no such day, a day past ``day_count``, a locked day: the same
    404, so a locked day's title is not revealed).

    The same rules as those selectors plus :func:`challenges_for`, :func:`solved_tiers`
    and :func:`feedback_get` (``tests/events/test_day_page.py`` checks they agree), as
    one SQL statement whose columns are read by name: building the same reads with the
    ORM (a day query with a Subquery and an Exists, a challenge query with an Exists)
    cost about twenty times the CPU of running this (see the README's benchmark
    section). Plain SQL that PostgreSQL and SQLite both run; psycopg prepares it
    on each connection after a few runs (``prepare_threshold`` in settings). Deciding the
    time lock needs :func:`daylock.clock.now`, which reads moved clocks only where the
    policy allows them: production runs this one statement and nothing else.
    """
    if not 1 <= number <= MAX_DAYS:
        raise Http404("no such day")
    sql = _DAY_PAGE[config.policy().test_utilities]
    with connection.cursor() as cursor:
        cursor.execute(sql, {"user_id": user_id, "slug": slug, "number": number})
        names = [column[0] for column in cursor.description]  # DB-API: name first
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    if not rows:
        raise Http404("no such day")
    first, db = rows[0], connection.alias
    event = Event.from_db(db, list(_EVENT_FIELDS), [first[f"event__{f}"] for f in _EVENT_FIELDS])
    day = Day.from_db(db, list(_DAY_FIELDS), [first[f"day__{f}"] for f in _DAY_FIELDS])
    day.event = event
    if not first["unlocked_early"] and clock.now(user_id=user_id) < day.unlocks_at:
        raise Http404("no such day")
    challenges: dict[Tier, Challenge] = {}
    solved: set[Tier] = set()
    for row in rows:
        if row["challenge__id"] is None:  # a day without challenges: the LEFT JOIN's row
            continue
        values = [row[f"challenge__{f}"] for f in _CHALLENGE_FIELDS]
        challenge = Challenge.from_db(db, list(_CHALLENGE_FIELDS), values)
        challenge.day = day
        challenges[Tier(challenge.tier)] = challenge
        if row["solved"]:
            solved.add(Tier(challenge.tier))
    return DayPage(
        event=event,
        day=day,
        challenges={tier: challenges[tier] for tier in Tier if tier in challenges},
        solved=frozenset(solved),
        feedback_rating=first["feedback_rating"],
    )


class DayState(enum.StrEnum):
    LOCKED = "locked"
    OPEN = "open"
    SOLVED_NORMAL = "solved-normal"
    SOLVED_VETERAN = "solved-veteran"
    SOLVED_BOTH = "solved-both"
    MISSING = "missing"  # open by date, but no content was written for it


@dataclass(frozen=True)
class DayCard:
    """One line of an event calendar. ``title`` is None while the day is locked."""

    number: int
    state: DayState
    unlocks_at: datetime
    unlocks_at_local: datetime
    title: str | None
    #: The day the time lock opened last (in the event's time zone, by the viewer's
    #: clock), while the event runs.
    is_today: bool = False

    @property
    def is_locked(self) -> bool:
        return self.state is DayState.LOCKED

    @property
    def is_linkable(self) -> bool:
        return self.state not in {DayState.LOCKED, DayState.MISSING}


@dataclass(frozen=True)
class EventCalendar:
    cards: list[DayCard]
    #: Where the event stands by the viewer's clock.
    timing: schedule.Timing
    #: Until the first day still locked for this viewer opens (None: every day is open).
    next_locked: DayCard | None
    next_unlock: schedule.Countdown | None


def event_calendar(*, event: Event, user: User | None) -> EventCalendar:
    """Every day of the event with its state for this user, today marked, and the
    countdown to the next locked day (three queries)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    now = clock.now(user_id=user_id)
    timing = schedule.timing(event, now=now)
    days = {d.number: d for d in Day.objects.filter(event=event, number__lte=event.day_count)}
    early = timelock.unlocked_day_ids([d.pk for d in days.values()], user_id=user_id)
    solved: dict[int, set[str]] = {}
    if user_id is not None:
        for day_id, tier in Progress.objects.filter(user_id=user_id, day__event=event).values_list(
            "day_id", "tier"
        ):
            solved.setdefault(day_id, set()).add(tier)
    cards = []
    for number in range(1, event.day_count + 1):
        instant = timelock.unlock_instant(event, number)
        day = days.get(number)
        is_open = now >= instant or (day is not None and day.pk in early)
        title = None
        if not is_open:
            state = DayState.LOCKED
        elif day is None:
            state = DayState.MISSING
        else:
            title = day.title
            tiers = solved.get(day.pk, set())
            if tiers >= {Tier.NORMAL, Tier.VETERAN}:
                state = DayState.SOLVED_BOTH
            elif Tier.VETERAN in tiers:
                state = DayState.SOLVED_VETERAN
            elif Tier.NORMAL in tiers:
                state = DayState.SOLVED_NORMAL
            else:
                state = DayState.OPEN
        cards.append(
            DayCard(
                number=number,
                state=state,
                unlocks_at=instant,
                unlocks_at_local=instant.astimezone(event.zone),
                title=title,
                is_today=number == timing.today,
            )
        )
    next_locked = next((card for card in cards if card.is_locked), None)
    return EventCalendar(
        cards=cards,
        timing=timing,
        next_locked=next_locked,
        next_unlock=(
            schedule.countdown(next_locked.unlocks_at, now=now) if next_locked is not None else None
        ),
    )


# --- completion -----------------------------------------------------------------------


def _event_progress(event: Event) -> QuerySet[Progress]:
    # Days past day_count (if the event was shortened) do not count.
    return Progress.objects.filter(day__event=event, day__number__lte=event.day_count)


def completion_tier(*, user: User, event: Event) -> Tier | None:
    """``VETERAN`` when every day is solved at veteran tier, else ``NORMAL`` when every
    day is solved at normal tier, else None.

    Tiers are independent challenges: a veteran completion does not need the normal
    answers, and mixing tiers across days (some days normal, others veteran) completes
    neither tier. Read from :class:`EventCompletion`, the one place completion is
    decided (:func:`daylock.events.services.completion_refresh` and the writers that
    call it); the tests hold it to an independent count of progress after every write
    path (tests/events/completion_checks.py).
    """
    tiers = set(
        EventCompletion.objects.filter(event=event, user=user).values_list("tier", flat=True)
    )
    if Tier.VETERAN in tiers:
        return Tier.VETERAN
    if Tier.NORMAL in tiers:
        return Tier.NORMAL
    return None


def tier_satisfies(completed: Tier | None, min_tier: Tier) -> bool:
    """Whether a completion meets a prize's rule (veteran is at least normal)."""
    if completed is None:
        return False
    return min_tier is Tier.NORMAL or completed is Tier.VETERAN


# --- eligibility ----------------------------------------------------------------------


def eligible_user_ids(
    *, event: Event, min_tier: Tier, feedback_required: bool
) -> QuerySet[User, int]:
    """Ids of users eligible for a prize of ``event``, ordered by id, as ONE query.

    Eligible = active, not banned, a Discord account still in the guild, completion of
    at least ``min_tier`` (``NORMAL``: normal or veteran completion; ``VETERAN``:
    veteran completion only) and, if ``feedback_required``, any feedback on the event
    (a day's or the event's). Where the policy has ``test_utilities``, an
    :class:`EligibilityOverride` replaces all of these rules for its user: ``eligible``
    true forces them in, false forces them out. Production ignores override rows.
    Where overrides are honoured the result is a compound query (``… UNION ALL …``):
    iterate it, count it or use it in ``pk__in``, but do not filter or reorder it.

    Completion is read from :class:`EventCompletion` (kept true by every writer of
    progress, see :func:`daylock.events.services.completion_refresh`): an indexed
    semi-join, not an aggregate over the event's whole progress table.
    :func:`daylock.events.eligibility.verdict` explains the same rules to one player,
    and the tests check both agree.
    """
    tiers = [Tier.VETERAN] if Tier(min_tier) is Tier.VETERAN else [Tier.NORMAL, Tier.VETERAN]
    completed = EventCompletion.objects.filter(event=event, tier__in=tiers).values("user_id")
    in_guild = DiscordAccount.objects.filter(user=OuterRef("pk"), in_guild=True)
    rules = Q(is_active=True, is_banned=False, pk__in=completed) & Q(Exists(in_guild))
    if feedback_required:
        rules &= Q(Exists(Feedback.objects.filter(user=OuterRef("pk"), event=event)))
    by_rules = User.objects.filter(rules)
    if not config.policy().test_utilities:
        return by_rules.order_by("id").values_list("id", flat=True)
    # An override replaces the rules for its user: the rules decide for users without
    # one, and the forced-in are added. The two sets are disjoint, so UNION ALL (no
    # million-id deduplication) at the top level, where PostgreSQL plans each side with
    # joins whatever work_mem is. (A plain OR of the subqueries is planned as per-row
    # subplans; ``id IN (… UNION …)`` dedupes, joins users again and sorts.)
    overrides = EligibilityOverride.objects.filter(event=event)
    without_override = by_rules.filter(~Exists(overrides.filter(user=OuterRef("pk"))))
    forced_in = overrides.filter(eligible=True).values_list("user_id", flat=True)
    return without_override.values_list("id", flat=True).union(forced_in, all=True).order_by("id")


# --- profile --------------------------------------------------------------------------


@dataclass(frozen=True)
class EventStanding:
    event: Event
    normal_days: int
    veteran_days: int
    completion: Tier | None
    feedback_given: bool


def profile_standings(*, user: User) -> list[EventStanding]:
    """Per published event: days solved per tier, completion and whether feedback was
    given (one query for the counts, one for feedback)."""
    events = list(
        events_published().annotate(
            normal_days=Count(
                "days__progress__day",
                distinct=True,
                filter=Q(days__progress__user=user, days__progress__tier=Tier.NORMAL)
                & Q(days__number__lte=F("day_count")),
            ),
            veteran_days=Count(
                "days__progress__day",
                distinct=True,
                filter=Q(days__progress__user=user, days__progress__tier=Tier.VETERAN)
                & Q(days__number__lte=F("day_count")),
            ),
        )
    )
    with_feedback = set(
        Feedback.objects.filter(user=user, event__in=events).values_list("event_id", flat=True)
    )
    standings = []
    for event in events:
        normal: int = event.normal_days
        veteran: int = event.veteran_days
        completion = (
            Tier.VETERAN
            if veteran >= event.day_count
            else Tier.NORMAL
            if normal >= event.day_count
            else None
        )
        standings.append(
            EventStanding(
                event=event,
                normal_days=normal,
                veteran_days=veteran,
                completion=completion,
                feedback_given=event.pk in with_feedback,
            )
        )
    return standings


def feedback_get(*, user: User, event: Event, day: Day | None) -> Feedback | None:
    return Feedback.objects.filter(user=user, event=event, day=day).first()
