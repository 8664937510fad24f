"""factory-boy factories for users and events (reused by other apps' tests).

``UserFactory()`` makes an active player with a Discord account in the guild;
``EventFactory()`` makes a published 3-day event that started long ago (every day open),
each day with a normal and a veteran challenge whose answers are ``normal-<n>`` and
``veteran-<n>`` (see :func:`answer_for`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from factory.django import DjangoModelFactory

from daylock import clock
from daylock.accounts.models import DiscordAccount, User
from daylock.events.models import Challenge, Day, Event, Feedback, Progress, Tier
from daylock.events.services import completion_refresh


def answer_for(tier: Tier | str, number: int) -> str:
    return f"{Tier(tier).value}-{number}"


class DiscordAccountFactory(DjangoModelFactory[DiscordAccount]):
    class Meta:
        model = DiscordAccount

    user = factory.SubFactory("tests.events.factories.UserFactory", discord=None)
    discord_id = factory.Sequence(lambda n: str(300000000000000000 + n))
    username = factory.LazyAttribute(lambda o: o.user.username)
    in_guild = True


class UserFactory(DjangoModelFactory[User]):
    """A player. ``UserFactory(discord__in_guild=False)`` has left the guild;
    ``UserFactory(discord=None)`` has no Discord account at all."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"player{n}")
    is_active = True
    is_banned = False
    discord = factory.RelatedFactory(DiscordAccountFactory, factory_related_name="user")


class EventFactory(DjangoModelFactory[Event]):
    """A published event with all its days and both challenges per day.

    ``EventFactory(days=False)`` makes the event alone; ``EventFactory(challenges=False)``
    makes days without challenges.
    """

    class Meta:
        model = Event
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"event-{n}")
    name = factory.Sequence(lambda n: f"Event {n}")
    description = "A test event."
    time_zone = "UTC"
    starts_on = dt.date(2024, 1, 1)
    day_count = 3
    published = True

    @factory.post_generation
    def days(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create or extracted is False:
            return
        with_challenges = kwargs.get("challenges", True)
        for number in range(1, self.day_count + 1):
            day = Day.objects.create(
                event=self,
                number=number,
                title=f"Day {number} title",
                body_markdown=f"Body of **day {number}**.",
            )
            if with_challenges:
                for tier in Tier:
                    Challenge.objects.create(
                        day=day,
                        tier=tier,
                        prompt=f"{tier.label} prompt {number}",
                        answer=answer_for(tier, number),
                    )


class DayFactory(DjangoModelFactory[Day]):
    class Meta:
        model = Day

    event = factory.SubFactory(EventFactory, days=False)
    number = factory.Sequence(lambda n: n % 3 + 1)
    title = factory.LazyAttribute(lambda o: f"Day {o.number}")
    body_markdown = ""


class ChallengeFactory(DjangoModelFactory[Challenge]):
    class Meta:
        model = Challenge

    day = factory.SubFactory(DayFactory)
    tier = Tier.NORMAL
    prompt = "What is it?"
    answer = factory.LazyAttribute(lambda o: answer_for(o.tier, o.day.number))


class ProgressFactory(DjangoModelFactory[Progress]):
    """A solved challenge, with the completion table refreshed like every real writer."""

    class Meta:
        model = Progress

    user = factory.SubFactory(UserFactory)
    day = factory.SubFactory(DayFactory)
    tier = Tier.NORMAL
    solved_at = factory.LazyFunction(clock.now)

    @classmethod
    def _create(cls, model_class: type[Progress], *args: Any, **kwargs: Any) -> Progress:
        progress = super()._create(model_class, *args, **kwargs)
        completion_refresh(event=progress.day.event, user_ids=[progress.user_id])
        return progress


class FeedbackFactory(DjangoModelFactory[Feedback]):
    class Meta:
        model = Feedback

    user = factory.SubFactory(UserFactory)
    event = factory.SubFactory(EventFactory)
    day = None
    rating = 4
    comment = ""


def complete(user: User, event: Event, tier: Tier | str, *, days: int | None = None) -> None:
    """Record ``user`` as having solved the first ``days`` days (default: all) at ``tier``,
    and refresh the completion table as every real writer of progress does."""
    chosen = event.days.filter(number__lte=days if days is not None else event.day_count)
    now = clock.now()
    Progress.objects.bulk_create(
        [Progress(user=user, day=day, tier=Tier(tier), solved_at=now) for day in chosen]
    )
    completion_refresh(event=event, user_ids=[user.pk])
