from __future__ import annotations

import pytest

from daylock.accounts.models import User
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
