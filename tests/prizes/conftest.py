from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from daylock import config
from daylock.accounts.models import GuildSync, User
from daylock.events.models import Event, Tier
from daylock.prizes import services
from daylock.prizes.models import Fulfilment, Prize
from tests.events.factories import EventFactory, UserFactory, complete

CHANNEL = "710000000000000001"
ROLE = "710000000000000002"


def make_entrants(event: Event, n: int, tier: Tier = Tier.NORMAL) -> list[User]:
    users = [UserFactory() for _ in range(n)]
    for user in users:
        complete(user, event, tier)
    return users


@pytest.fixture
def event() -> Event:
    return EventFactory(day_count=2)


def make_prize(event: Event, **kwargs: object) -> Prize:
    defaults: dict[str, object] = {
        "name": "Sticker pack",
        "fulfilment": Fulfilment.MANUAL,
        "quantity": 2,
        "announce_channel_id": CHANNEL,
    }
    return services.prize_create(event=event, **(defaults | kwargs))  # type: ignore[arg-type]


def member_sync_done(*, minutes_ago: float = 0) -> GuildSync:
    """A complete member sync of the configured guild ``minutes_ago`` (what the worker's
    ``daylock discord sync-members`` records), so closing entries finds membership fresh.
    Other apps' tests that close entries use it too."""
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return GuildSync.objects.create(
        guild_id=config.current().discord_guild_id, trigger="test", started_at=at, finished_at=at
    )


@pytest.fixture(autouse=True)
def _fresh_member_sync(request: pytest.FixtureRequest) -> None:
    """Prize tests that use the database close entries as after a recent member sync;
    the freshness rule's own tests delete it (``GuildSync.objects.all().delete()``)."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")  # pytest-django's database set-up
    member_sync_done()
