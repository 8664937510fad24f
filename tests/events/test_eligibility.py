from __future__ import annotations

import itertools
from typing import Any

import pytest

from daylock import clock
from daylock.accounts.models import User
from daylock.events import eligibility, selectors
from daylock.events.models import EligibilityOverride, Event, Tier
from tests.config_override import production

from .factories import EventFactory, FeedbackFactory, UserFactory, complete

pytestmark = pytest.mark.django_db

COMPLETIONS = ["none", "partial", "normal", "veteran", "both"]
FEEDBACK = ["none", "day", "event", "other-event"]
STATUSES = ["ok", "banned", "inactive", "left-guild", "no-discord"]


def explain(
    user: User, event: Event, min_tier: Tier = Tier.NORMAL, feedback_required: bool = False
) -> eligibility.Verdict:
    """What the event page and My prizes tell ``user`` about a prize with this rule."""
    facts = eligibility.player_facts(user=user, events=[event])[event.pk]
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
