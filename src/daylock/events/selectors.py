"""Reads: what a player may see, their completion, and prize eligibility.

:func:`eligible_user_ids` is the interface the prizes app draws from; it and
:func:`eligibility_for` apply the same rules (one as a single SQL query for every
user, the other as reasons for one user's profile page).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.http import Http404

from daylock import clock, config
from daylock.accounts.models import DiscordAccount, User
from daylock.events import timelock
from daylock.events.models import (
    Challenge,
    Day,
    EligibilityOverride,
    Event,
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


def challenges_for(*, day: Day) -> dict[Tier, Challenge]:
    return {Tier(c.tier): c for c in Challenge.objects.filter(day=day)}


def solved_tiers(*, user: User | None, day: Day) -> set[Tier]:
    if user is None or not user.is_authenticated:
        return set()
    tiers = Progress.objects.filter(user=user, day=day).values_list("tier", flat=True)
    return {Tier(t) for t in tiers}


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

    @property
    def is_locked(self) -> bool:
        return self.state is DayState.LOCKED

    @property
    def is_linkable(self) -> bool:
        return self.state not in {DayState.LOCKED, DayState.MISSING}


def event_calendar(*, event: Event, user: User | None) -> list[DayCard]:
    """Every day of the event with its state for this user (three queries)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    now = clock.now(user_id=user_id)
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
            )
        )
    return cards


# --- completion -----------------------------------------------------------------------


def _event_progress(event: Event) -> QuerySet[Progress]:
    # Days past day_count (if the event was shortened) do not count.
    return Progress.objects.filter(day__event=event, day__number__lte=event.day_count)


def solved_day_counts(*, user: User, event: Event) -> dict[Tier, int]:
    """How many distinct days this user solved at each tier."""
    counts = (
        _event_progress(event)
        .filter(user=user)
        .aggregate(
            normal=Count("day", distinct=True, filter=Q(tier=Tier.NORMAL)),
            veteran=Count("day", distinct=True, filter=Q(tier=Tier.VETERAN)),
        )
    )
    return {Tier.NORMAL: counts["normal"], Tier.VETERAN: counts["veteran"]}


def completion_tier(*, user: User, event: Event) -> Tier | None:
    """``VETERAN`` when every day is solved at veteran tier, else ``NORMAL`` when every
    day is solved at normal tier, else None.

    Tiers are independent challenges: a veteran completion does not need the normal
    answers, and mixing tiers across days (some days normal, others veteran) completes
    neither tier.
    """
    counts = solved_day_counts(user=user, event=event)
    if counts[Tier.VETERAN] >= event.day_count:
        return Tier.VETERAN
    if counts[Tier.NORMAL] >= event.day_count:
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

    Completion is one grouped subquery over the event's progress
    (``GROUP BY user HAVING COUNT(*) FILTER (WHERE tier = …) = day_count``).
    """
    tier = Tier(min_tier)
    n = event.day_count
    # COUNT(*) per tier equals the number of distinct days solved at that tier because
    # (user, day, tier) is unique; plain counts let PostgreSQL hash-aggregate instead
    # of sorting a million rows for COUNT(DISTINCT).
    progress = _event_progress(event)
    if tier is Tier.VETERAN:
        completed = (
            progress.filter(tier=Tier.VETERAN)
            .values("user_id")
            .annotate(veteran=Count("pk"))
            .filter(veteran=n)
        )
    else:
        completed = (
            progress.values("user_id")
            .annotate(
                normal=Count("pk", filter=Q(tier=Tier.NORMAL)),
                veteran=Count("pk", filter=Q(tier=Tier.VETERAN)),
            )
            .filter(Q(normal=n) | Q(veteran=n))
        )
    in_guild = DiscordAccount.objects.filter(user=OuterRef("pk"), in_guild=True)
    rules = Q(is_active=True, is_banned=False, pk__in=completed.values("user_id")) & Q(
        Exists(in_guild)
    )
    if feedback_required:
        rules &= Q(Exists(Feedback.objects.filter(user=OuterRef("pk"), event=event)))
    if config.policy().test_utilities:
        # (rules AND NOT forced out) OR forced in — written as IN (… UNION …): a plain
        # OR of subqueries keeps PostgreSQL from planning them as semi-joins.
        overrides = EligibilityOverride.objects.filter(event=event)
        forced_out = Q(Exists(overrides.filter(user=OuterRef("pk"), eligible=False)))
        by_rules = User.objects.filter(rules & ~forced_out).values("pk")
        forced_in = overrides.filter(eligible=True).values("user_id")
        rules = Q(pk__in=by_rules.union(forced_in))
    return User.objects.filter(rules).order_by("id").values_list("id", flat=True)


def eligibility_for(
    *, user: User, event: Event, min_tier: Tier, feedback_required: bool
) -> tuple[bool, str]:
    """Whether this user is eligible (the same rules as :func:`eligible_user_ids`) and
    a sentence saying why or why not, for the profile page."""
    if config.policy().test_utilities:
        override = EligibilityOverride.objects.filter(user=user, event=event).first()
        if override is not None:
            verdict = "eligible" if override.eligible else "not eligible"
            why = f": {override.reason}" if override.reason else ""
            return override.eligible, f"{verdict} by a staff override (test utility){why}"
    if not user.is_active:
        return False, "the account is deactivated"
    if user.is_banned:
        return False, "the account is banned"
    discord = DiscordAccount.objects.filter(user=user).first()
    if discord is None:
        return False, "no Discord account is linked"
    if not discord.in_guild:
        return False, "the Discord account is not (or no longer) a member of the server"
    completed = completion_tier(user=user, event=event)
    if not tier_satisfies(completed, Tier(min_tier)):
        if Tier(min_tier) is Tier.VETERAN:
            return False, "every day must be solved at veteran tier"
        return False, "every day must be solved (normal or veteran tier)"
    if feedback_required and not Feedback.objects.filter(user=user, event=event).exists():
        return False, "feedback on the event or one of its days is required"
    return True, f"eligible ({completed.label if completed else ''} completion)"


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
