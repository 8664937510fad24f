"""Why one player does or does not qualify for a prize, in words they can act on.

:func:`daylock.events.selectors.eligible_user_ids` decides who enters a draw, for every
user at once, in SQL. This module applies the same rules to one player (the tests hold
the two to the same matrix of cases) and says why: "you completed the normal tier on
all 7 days", "you need the veteran tier on day 5", "you left the Discord server".

What the rules need comes as columns of the query that reads the prizes
(:func:`fact_annotations`), plus the days solved where a verdict names what is missing
(:func:`with_solved_days`); :func:`verdict` is pure, so one read serves every prize of
every event on a page.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Subquery

from daylock import config
from daylock.accounts.models import DiscordAccount, User
from daylock.events.models import (
    EligibilityOverride,
    Event,
    EventCompletion,
    Feedback,
    Progress,
    Tier,
    unlock_instant,
)


@dataclass(frozen=True)
class Override:
    """A staff override of the test utilities (honoured only where the policy has
    ``test_utilities``): it replaces every rule for its player."""

    eligible: bool
    reason: str


@dataclass(frozen=True)
class PlayerFacts:
    """What decides one player's eligibility for the prizes of one event."""

    event: Event
    active: bool
    banned: bool
    has_discord: bool
    in_guild: bool
    left_guild_at: datetime | None
    #: Tiers completed (every day up to ``day_count``), from :class:`EventCompletion`
    #: like the draw's query.
    completed: frozenset[Tier]
    #: Day numbers (up to ``day_count``) solved per tier: only to say what is missing.
    solved_days: Mapping[Tier, frozenset[int]]
    gave_feedback: bool
    override: Override | None


class Reason(enum.StrEnum):
    OVERRIDE_IN = "override-in"
    OVERRIDE_OUT = "override-out"
    DEACTIVATED = "deactivated"
    BANNED = "banned"
    NO_DISCORD = "no-discord"
    LEFT_SERVER = "left-server"
    NOT_IN_SERVER = "not-in-server"
    INCOMPLETE = "incomplete"
    NO_FEEDBACK = "no-feedback"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reason: Reason
    #: A sentence to the player, without the capital and the full stop.
    text: str


def days_phrase(numbers: Iterable[int]) -> str:
    """``[5]`` → "day 5"; ``[1, 2, 3, 5, 7]`` → "days 1 to 3, 5 and 7" (runs of three or
    more days as a range)."""
    ordered = sorted(set(numbers))
    runs: list[list[int]] = []
    for number in ordered:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]} to {run[-1]}")
        else:
            parts.extend(str(n) for n in run)
    if len(ordered) == 1:
        return f"day {parts[0]}"
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"days {listed}"


def _all_days(event: Event) -> str:
    return "on day 1" if event.day_count == 1 else f"on all {event.day_count} days"


def _accepted(min_tier: Tier) -> tuple[Tier, ...]:
    """Completions that satisfy a prize's rule: veteran counts for a normal prize."""
    return (Tier.VETERAN,) if min_tier is Tier.VETERAN else (Tier.NORMAL, Tier.VETERAN)


def _missing(facts: PlayerFacts, min_tier: Tier, now: datetime) -> str:
    """What the player still has to solve: the accepted tier they are closest to
    (normal on a tie), and which of those days are still locked."""
    every = set(range(1, facts.event.day_count + 1))
    gaps = {tier: every - facts.solved_days.get(tier, frozenset()) for tier in _accepted(min_tier)}
    tier = min(gaps, key=lambda t: (len(gaps[t]), t is not Tier.NORMAL))
    missing = gaps[tier]
    label = tier.label.lower()
    if not missing:  # completion not recorded although every day is: say the rule
        return f"you need the {label} tier {_all_days(facts.event)}"
    text = f"you need the {label} tier on {days_phrase(missing)}"
    locked = [n for n in missing if unlock_instant(facts.event, n) > now]
    if locked:
        opens = "opens" if len(locked) == 1 else "open"
        text += f" ({days_phrase(locked)} {opens} later)"
    return text


def verdict(
    facts: PlayerFacts, *, min_tier: Tier, feedback_required: bool, now: datetime
) -> Verdict:
    """Whether the player enters the draw of a prize with this rule if entries close at
    ``now``, and why: the first rule that fails, in the order the rules are checked
    (an override, the account, the Discord server, completion, feedback)."""
    min_tier = Tier(min_tier)
    if facts.override is not None:
        why = f": {facts.override.reason}" if facts.override.reason else ""
        if facts.override.eligible:
            return Verdict(
                True, Reason.OVERRIDE_IN, f"a staff override (test utility) puts you in{why}"
            )
        return Verdict(
            False, Reason.OVERRIDE_OUT, f"a staff override (test utility) keeps you out{why}"
        )
    if not facts.active:
        return Verdict(False, Reason.DEACTIVATED, "your account is deactivated")
    if facts.banned:
        return Verdict(False, Reason.BANNED, "your account is banned")
    if not facts.has_discord:
        return Verdict(False, Reason.NO_DISCORD, "no Discord account is linked to your account")
    if not facts.in_guild:
        if facts.left_guild_at is not None:
            return Verdict(
                False,
                Reason.LEFT_SERVER,
                f"you left the Discord server on {facts.left_guild_at:%Y-%m-%d}; "
                "rejoin it to qualify",
            )
        return Verdict(
            False,
            Reason.NOT_IN_SERVER,
            "you are not a member of the Discord server; join it to qualify",
        )
    done = [tier for tier in _accepted(min_tier) if tier in facts.completed]
    if not done:
        return Verdict(False, Reason.INCOMPLETE, _missing(facts, min_tier, now))
    label = done[0].label.lower()
    completed = f"you completed the {label} tier {_all_days(facts.event)}"
    if feedback_required and not facts.gave_feedback:
        return Verdict(
            False,
            Reason.NO_FEEDBACK,
            f"{completed}; leave feedback on the event or one of its days to qualify",
        )
    if feedback_required:
        completed += " and left feedback"
    return Verdict(True, Reason.COMPLETED, completed)


#: Prefix of the columns :func:`fact_annotations` adds.
_PREFIX = "viewer_"


def fact_annotations(*, user_id: int, event_field: str) -> dict[str, Any]:
    """Columns to annotate a query with, whose rows each have an event (named
    ``event_field``: ``"pk"`` on events, ``"event"`` on prizes), so that the player's
    facts in that event come with the rows, in the same query: completion, feedback,
    the Discord account and (where honoured) an override. :func:`facts_from_row` reads
    them back."""
    event = OuterRef(event_field)
    discord = DiscordAccount.objects.filter(user_id=user_id)
    completions = EventCompletion.objects.filter(event=event, user_id=user_id)
    columns: dict[str, Any] = {
        "completed_normal": Exists(completions.filter(tier=Tier.NORMAL)),
        "completed_veteran": Exists(completions.filter(tier=Tier.VETERAN)),
        "gave_feedback": Exists(Feedback.objects.filter(event=event, user_id=user_id)),
        "has_discord": Exists(discord),
        "in_guild": Exists(discord.filter(in_guild=True)),
        "left_guild_at": Subquery(discord.values("left_guild_at")[:1]),
    }
    # Production never reads overrides: rows there are copied data or a mistake.
    if config.policy().test_utilities:
        overrides = EligibilityOverride.objects.filter(event=event, user_id=user_id)
        columns["override_eligible"] = Subquery(overrides.values("eligible")[:1])
        columns["override_reason"] = Subquery(overrides.values("reason")[:1])
    return {_PREFIX + name: column for name, column in columns.items()}


def facts_from_row(row: Any, *, user: User, event: Event) -> PlayerFacts:
    """The facts in a row annotated with :func:`fact_annotations` (``solved_days``
    empty: :func:`with_solved_days` adds them where a verdict needs them)."""

    def column(name: str) -> Any:
        return getattr(row, _PREFIX + name, None)

    override = None
    if config.policy().test_utilities and column("override_eligible") is not None:
        override = Override(bool(column("override_eligible")), column("override_reason") or "")
    completed = {Tier.NORMAL: column("completed_normal"), Tier.VETERAN: column("completed_veteran")}
    return PlayerFacts(
        event=event,
        active=user.is_active,
        banned=user.is_banned,
        has_discord=bool(column("has_discord")),
        in_guild=bool(column("in_guild")),
        left_guild_at=column("left_guild_at"),
        completed=frozenset(tier for tier, done in completed.items() if done),
        solved_days={},
        gave_feedback=bool(column("gave_feedback")),
        override=override,
    )


def needs_solved_days(facts: PlayerFacts, *, min_tier: Tier) -> bool:
    """Whether :func:`verdict` will name the missing days (the completion rule is the
    first that fails): only then are the player's solved days worth a read."""
    return (
        facts.override is None
        and facts.active
        and not facts.banned
        and facts.in_guild
        and not any(tier in facts.completed for tier in _accepted(Tier(min_tier)))
    )


def with_solved_days(
    facts: Mapping[int, PlayerFacts], *, user: User, event_ids: Iterable[int]
) -> dict[int, PlayerFacts]:
    """``facts`` (by event id) with the days the player solved per tier added for these
    events: one query (none for no event)."""
    wanted = set(event_ids)
    if not wanted:
        return dict(facts)
    solved: dict[int, dict[Tier, set[int]]] = {}
    progress = Progress.objects.filter(
        user_id=user.pk, day__event_id__in=wanted, day__number__lte=F("day__event__day_count")
    ).values_list("day__event_id", "day__number", "tier")
    for event_id, number, tier in progress:
        solved.setdefault(event_id, {}).setdefault(Tier(tier), set()).add(number)
    return {
        event_id: (
            dataclasses.replace(
                each,
                solved_days={
                    tier: frozenset(days) for tier, days in solved.get(event_id, {}).items()
                },
            )
            if event_id in wanted
            else each
        )
        for event_id, each in facts.items()
    }
