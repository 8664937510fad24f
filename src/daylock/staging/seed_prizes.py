"""Seeded prizes, through the prizes services (so draws are real and verifiable).

The finished event's two prizes are drawn: entries closed (entrant list committed)
and the draw run, exactly as staff would do it; ``daylock draw verify`` checks them.
The running event's prizes are left open. Code prizes get a test-only inventory:
``is_test=True`` codes that read ``TEST-xxxx-xxxx``. In non-production no code is ever
attached to a winner anyway (the prizes app shows a placeholder); the flag and the
prefix make the codes unmistakable wherever they end up.
"""

from __future__ import annotations

import random
from typing import Any

from daylock.staging.seed import DISCORD_ID_BASE, PAST_SLUG, RUNNING_SLUG

#: A role snowflake from the same impossible range as the seeded user ids.
TEST_ROLE_ID = str(DISCORD_ID_BASE - 1)


def test_codes(rng: random.Random, count: int) -> list[str]:
    return [f"TEST-{rng.getrandbits(16):04X}-{rng.getrandbits(16):04X}" for _ in range(count)]


def seed(*, rng: random.Random, events: dict[str, Any], result: Any) -> None:
    from daylock.events.models import Tier
    from daylock.prizes.models import Fulfilment, Prize
    from daylock.prizes.services import (
        draw_close_entries,
        draw_run,
        prize_codes_add,
        prize_create,
    )

    def make(event: Any, **fields: Any) -> Any:
        prize = prize_create(event=event, **fields)
        result.prizes += 1
        if prize.fulfilment == Fulfilment.CODE:
            result.codes += prize_codes_add(
                prize=prize, codes=test_codes(rng, prize.quantity + 3), is_test=True
            )
        return prize

    past = events[PAST_SLUG]
    if not Prize.objects.filter(event=past).exists():
        drawn = [
            make(
                past,
                name="Finisher code (test)",
                description="A game code for finishers. Seeded: codes are TEST codes.",
                fulfilment=Fulfilment.CODE,
                quantity=3,
                min_tier=Tier.NORMAL,
            ),
            make(
                past,
                name="Veteran hoodie (test)",
                description="Shipped by staff to veteran finishers who left feedback.",
                fulfilment=Fulfilment.MANUAL,
                quantity=2,
                min_tier=Tier.VETERAN,
                feedback_required=True,
            ),
        ]
        for prize in drawn:
            # Seeded players are test accounts, not Discord members: no member sync can
            # vouch for them, so a seed that finds membership unsynced says so publicly.
            draw_close_entries(
                prize=prize,
                actor=None,
                force_reason="seeded demo draw: test accounts, no Discord membership to sync",
            )
            draw_run(prize=prize, actor=None, confirm=True)
            result.draws += 1

    running = events[RUNNING_SLUG]
    if not Prize.objects.filter(event=running).exists():
        make(
            running,
            name="Finisher code (test)",
            description="Drawn after the event among finishers.",
            fulfilment=Fulfilment.CODE,
            quantity=5,
            min_tier=Tier.NORMAL,
        )
        make(
            running,
            name="Veteran role (test)",
            description="A Discord role for veteran finishers (staging: captured, not granted).",
            fulfilment=Fulfilment.DISCORD_ROLE,
            discord_role_id=TEST_ROLE_ID,
            quantity=10,
            min_tier=Tier.VETERAN,
        )
