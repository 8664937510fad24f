from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from daylock import clock
from daylock.accounts.models import User
from daylock.events import eligibility, selectors
from daylock.events.models import EligibilityOverride, Event, Progress, Tier
from tests.config_override import production

from .factories import EventFactory, FeedbackFactory, ProgressFactory, UserFactory, complete

pytestmark = pytest.mark.django_db

COMPLETIONS = ["none", "partial", "normal", "veteran", "both"]
FEEDBACK = ["none", "day", "event", "other-event"]
STATUSES = ["ok", "banned", "inactive", "left-guild", "no-discord"]


def explain(
    user: User, event: Event, min_tier: Tier = Tier.NORMAL, feedback_required: bool = False
) -> eligibility.Verdict:
    """What the event page and My prizes tell ``user`` about a prize with this rule."""
    row = Event.objects.annotate(
        **eligibility.fact_annotations(user_id=user.pk, event_field="pk")
    ).get(pk=event.pk)
    facts = eligibility.facts_from_row(row, user=user, event=event)
    facts = eligibility.with_solved_days({event.pk: facts}, user=user, event_ids=[event.pk])[
        event.pk
    ]
    return eligibility.verdict(
        facts, min_tier=min_tier, feedback_required=feedback_required, now=clock.now()
    )


def _population(event: Event, other: Event) -> dict[int, dict[str, str]]:
    people: dict[int, dict[str, str]] = {}
    for completion, feedback, status in itertools.product(COMPLETIONS, FEEDBACK, STATUSES):
        kwargs: dict[str, Any] = {
            "is_banned": status == "banned",
            "is_active": status != "inactive",
        }
        if status == "no-discord":
            kwargs["discord"] = None
        elif status == "left-guild":
            kwargs["discord__in_guild"] = False
        user = UserFactory(**kwargs)
        if completion == "partial":
            complete(user, event, Tier.NORMAL, days=event.day_count - 1)
            complete(user, event, Tier.VETERAN, days=event.day_count - 1)
        if completion in {"normal", "both"}:
            complete(user, event, Tier.NORMAL)
        if completion in {"veteran", "both"}:
            complete(user, event, Tier.VETERAN)
        if feedback == "day":
            FeedbackFactory(user=user, event=event, day=event.days.get(number=2))
        elif feedback == "event":
            FeedbackFactory(user=user, event=event)
        elif feedback == "other-event":
            FeedbackFactory(user=user, event=other)
        people[user.pk] = {"completion": completion, "feedback": feedback, "status": status}
    return people


def _expected(person: dict[str, str], min_tier: Tier, feedback_required: bool) -> bool:
    if person["status"] != "ok":
        return False
    accepted = {"veteran", "both"} if min_tier is Tier.VETERAN else {"normal", "veteran", "both"}
    if person["completion"] not in accepted:
        return False
    return not feedback_required or person["feedback"] in {"day", "event"}


@pytest.mark.parametrize("min_tier", [Tier.NORMAL, Tier.VETERAN])
@pytest.mark.parametrize("feedback_required", [False, True])
def test_every_rule_combination(
    min_tier: Tier, feedback_required: bool, django_assert_num_queries: Any
) -> None:
    event, other = EventFactory(day_count=3), EventFactory(day_count=3)
    people = _population(event, other)
    expected = [pk for pk in sorted(people) if _expected(people[pk], min_tier, feedback_required)]
    assert expected  # the matrix has eligible people in every combination
    with django_assert_num_queries(1):
        got = list(
            selectors.eligible_user_ids(
                event=event, min_tier=min_tier, feedback_required=feedback_required
            )
        )
    assert got == expected  # ordered by id
    # What the pages tell each player agrees with the query for every single person.
    for user in User.objects.filter(pk__in=people):
        verdict = explain(user, event, min_tier, feedback_required)
        assert verdict.eligible == (user.pk in expected), (people[user.pk], verdict)


def test_reasons_name_the_first_rule_that_fails() -> None:
    event = EventFactory(day_count=2)

    def reason(user: User, min_tier: Tier = Tier.NORMAL, feedback: bool = False) -> str:
        return explain(user, event, min_tier, feedback).text

    assert reason(UserFactory(is_banned=True)) == "your account is banned"
    assert reason(UserFactory(is_active=False)) == "your account is deactivated"
    assert reason(UserFactory(discord=None)) == "no Discord account is linked to your account"
    never_joined = UserFactory(discord__in_guild=False)
    assert reason(never_joined) == "you are not a member of the Discord server; join it to qualify"
    assert reason(UserFactory()) == "you need the normal tier on days 1 and 2"
    normal = UserFactory()
    complete(normal, event, Tier.NORMAL)
    assert reason(normal, Tier.VETERAN) == "you need the veteran tier on days 1 and 2"
    assert reason(normal, feedback=True) == (
        "you completed the normal tier on all 2 days; "
        "leave feedback on the event or one of its days to qualify"
    )
    assert reason(normal) == "you completed the normal tier on all 2 days"
    FeedbackFactory(user=normal, event=event, day=event.days.get(number=1))
    assert reason(normal, feedback=True) == (
        "you completed the normal tier on all 2 days and left feedback"
    )


def _override_cast(event: Event) -> tuple[User, User, User]:
    forced_in = UserFactory(is_banned=True, discord__in_guild=False)  # no completion either
    forced_out = UserFactory()
    complete(forced_out, event, Tier.VETERAN)
    FeedbackFactory(user=forced_out, event=event)
    plain = UserFactory()
    complete(plain, event, Tier.VETERAN)
    FeedbackFactory(user=plain, event=event)
    EligibilityOverride.objects.create(user=forced_in, event=event, eligible=True, reason="qa")
    EligibilityOverride.objects.create(user=forced_out, event=event, eligible=False)
    return forced_in, forced_out, plain


def _ids(event: Event) -> list[int]:
    return list(
        selectors.eligible_user_ids(event=event, min_tier=Tier.VETERAN, feedback_required=True)
    )


def test_overrides_force_in_and_out_in_staging() -> None:
    event = EventFactory(day_count=2)
    forced_in, forced_out, plain = _override_cast(event)
    EligibilityOverride.objects.create(user=plain, event=EventFactory(), eligible=False)
    assert _ids(event) == sorted([forced_in.pk, plain.pk])
    verdict = explain(forced_in, event, Tier.VETERAN, feedback_required=True)
    assert verdict == eligibility.Verdict(
        True, eligibility.Reason.OVERRIDE_IN, "a staff override (test utility) puts you in: qa"
    )
    verdict = explain(forced_out, event)
    assert verdict == eligibility.Verdict(
        False, eligibility.Reason.OVERRIDE_OUT, "a staff override (test utility) keeps you out"
    )


def test_overrides_are_ignored_in_production() -> None:
    event = EventFactory(day_count=2)
    forced_in, forced_out, plain = _override_cast(event)
    with production():
        assert _ids(event) == sorted([forced_out.pk, plain.pk])
        assert explain(forced_in, event).reason is eligibility.Reason.BANNED
        assert explain(forced_out, event, Tier.VETERAN, feedback_required=True).eligible


def test_result_is_a_flat_values_list_usable_as_a_subquery() -> None:
    event = EventFactory(day_count=1)
    user = UserFactory()
    complete(user, event, Tier.NORMAL)
    ids = selectors.eligible_user_ids(event=event, min_tier=Tier.NORMAL, feedback_required=False)
    assert list(ids) == [user.pk]
    assert list(User.objects.filter(pk__in=ids)) == [user]
    assert ids.count() == 1


# --- what the pages say, case by case ----------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "phrase"),
    [
        ([5], "day 5"),
        ([2, 1], "days 1 and 2"),
        ([1, 3], "days 1 and 3"),
        ([1, 2, 3, 5, 7], "days 1 to 3, 5 and 7"),
        ([1, 2, 3, 4, 6, 7, 8], "days 1 to 4 and 6 to 8"),
        ([4, 5, 6, 7], "days 4 to 7"),
    ],
)
def test_days_phrase(numbers: list[int], phrase: str) -> None:
    assert eligibility.days_phrase(numbers) == phrase


def test_a_player_who_left_the_server_is_told_when() -> None:
    event = EventFactory(day_count=2)
    left = UserFactory(
        discord__in_guild=False,
        discord__left_guild_at=datetime(2026, 11, 30, 21, 5, tzinfo=UTC),
    )
    complete(left, event, Tier.VETERAN)
    verdict = explain(left, event)
    assert not verdict.eligible
    assert verdict.reason is eligibility.Reason.LEFT_SERVER
    assert verdict.text == "you left the Discord server on 2026-11-30; rejoin it to qualify"


def test_missing_days_name_the_days_still_locked(set_clock: Callable[..., None]) -> None:
    event = EventFactory(time_zone="UTC", starts_on=dt.date(2030, 7, 1), day_count=5)
    set_clock(datetime(2030, 7, 3, 12, tzinfo=UTC))  # days 1-3 open
    player = UserFactory()
    complete(player, event, Tier.NORMAL, days=1)
    assert explain(player, event).text == (
        "you need the normal tier on days 2 to 5 (days 4 and 5 open later)"
    )
    complete(player, event, Tier.VETERAN, days=3)
    # Closer to veteran now (days 4 and 5 missing) than to normal (2 to 5).
    assert explain(player, event).text == (
        "you need the veteran tier on days 4 and 5 (days 4 and 5 open later)"
    )
    set_clock(datetime(2030, 7, 4, 12, tzinfo=UTC))  # day 4 open too
    assert explain(player, event, Tier.VETERAN).text == (
        "you need the veteran tier on days 4 and 5 (day 5 opens later)"
    )


def test_tiers_do_not_mix_and_the_closest_tier_is_named() -> None:
    event = EventFactory(day_count=3)
    mixed = UserFactory()
    complete(mixed, event, Tier.NORMAL, days=1)
    Progress.objects.filter(user=mixed).delete()
    day1, day2, day3 = (event.days.get(number=n) for n in (1, 2, 3))
    for day, tier in ((day1, Tier.NORMAL), (day2, Tier.VETERAN), (day3, Tier.VETERAN)):
        ProgressFactory(user=mixed, day=day, tier=tier)
    verdict = explain(mixed, event)
    assert not verdict.eligible
    assert verdict.text == "you need the veteran tier on day 1"
    # A tie goes to the normal tier.
    tie = UserFactory()
    ProgressFactory(user=tie, day=day1, tier=Tier.NORMAL)
    ProgressFactory(user=tie, day=day2, tier=Tier.VETERAN)
    assert explain(tie, event).text == "you need the normal tier on days 2 and 3"


def test_completion_is_named_by_the_tier_that_counts() -> None:
    one_day = EventFactory(day_count=1)
    veteran = UserFactory()
    complete(veteran, one_day, Tier.VETERAN)
    assert explain(veteran, one_day).text == "you completed the veteran tier on day 1"
    complete(veteran, one_day, Tier.NORMAL)
    assert explain(veteran, one_day).text == "you completed the normal tier on day 1"
    assert explain(veteran, one_day, Tier.VETERAN).text == (
        "you completed the veteran tier on day 1"
    )


def test_solved_days_are_read_only_where_a_verdict_names_them(
    django_assert_num_queries: Any,
) -> None:
    event = EventFactory(day_count=2)
    done, banned, partial = UserFactory(), UserFactory(is_banned=True), UserFactory()
    for user in (done, banned):
        complete(user, event, Tier.NORMAL)
    complete(partial, event, Tier.NORMAL, days=1)

    def facts(user: User) -> eligibility.PlayerFacts:
        row = Event.objects.annotate(
            **eligibility.fact_annotations(user_id=user.pk, event_field="pk")
        ).get(pk=event.pk)
        return eligibility.facts_from_row(row, user=user, event=event)

    assert not eligibility.needs_solved_days(facts(done), min_tier=Tier.NORMAL)
    assert eligibility.needs_solved_days(facts(done), min_tier=Tier.VETERAN)
    assert not eligibility.needs_solved_days(facts(banned), min_tier=Tier.VETERAN)
    assert eligibility.needs_solved_days(facts(partial), min_tier=Tier.NORMAL)
    partial_facts = facts(partial)
    with django_assert_num_queries(0):
        assert eligibility.with_solved_days(
            {event.pk: partial_facts}, user=partial, event_ids=[]
        ) == {event.pk: partial_facts}
    with django_assert_num_queries(1):
        added = eligibility.with_solved_days(
            {event.pk: partial_facts}, user=partial, event_ids=[event.pk]
        )
    assert added[event.pk].solved_days == {Tier.NORMAL: frozenset({1})}
