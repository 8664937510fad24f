"""The demo event of ``make run`` (``daylock demo_data``; callers check
``policy.seed_and_reset``): content, kept apart from the services that write it."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from daylock import clock
from daylock.events.models import Challenge, Day, DayUnlock, Event, Tier
from daylock.events.services import completion_refresh
from daylock.prizes.models import Fulfilment, Prize
from daylock.prizes.services import prize_create

DEMO_SLUG = "daylock-demo"
DEMO_TIME_ZONE = "Europe/Berlin"
DEMO_PRIZE = "Demo sticker pack"
DEMO_DAYS: list[tuple[str, str, tuple[str, str], tuple[str, str]]] = [
    (
        "Warm-up",
        "Welcome to **Daylock**! A new day opens every midnight (Berlin time).\n\n"
        "Each day has a *normal* and a *veteran* challenge. Answers are compared "
        "ignoring case and extra spaces.",
        ("What is 6 times 7?", "42"),
        ("Write 42 in binary.", "101010"),
    ),
    (
        "Letters",
        "## Counting letters\n\nSome words are longer than they look.",
        ("How many letters are in the word *daylock*?", "7"),
        ("Which letter appears most often in *mississippi*?", "s"),
    ),
    (
        "Sequences",
        "Find the next number:\n\n```\n1, 1, 2, 3, 5, 8, ?\n```",
        ("Next number of 1, 1, 2, 3, 5, 8?", "13"),
        ("The 20th Fibonacci number (F1 = F2 = 1)?", "6765"),
    ),
    (
        "Ciphers",
        "A *Caesar cipher* shifts every letter by the same amount.",
        ("Decode `KHOOR` (shift 3).", "hello"),
        ("Decode `Uryyb Jbeyq` (ROT13).", "hello world"),
    ),
    (
        "Time zones",
        "| City | Zone |\n| --- | --- |\n| Berlin | Europe/Berlin |\n"
        "| New York | America/New_York |",
        ("How many hours is Berlin ahead of UTC in winter?", "1"),
        ("How many hours is New York behind Berlin most of the year?", "6"),
    ),
    (
        "Hashes",
        "Draws are verifiable: the seed's **sha256** is published first.",
        ("How many hex digits long is a sha256 digest?", "64"),
        ("How many bits is a sha256 digest?", "256"),
    ),
    (
        "Finale",
        "Last day — solve both tiers for a veteran completion.",
        ("Type the name of this app.", "daylock"),
        ("How many days did this demo have?", "7"),
    ),
]


def demo_event_ensure() -> str:
    """Create or refresh the demo event: published, 7 days from two days ago (event
    local), so days 1-3 are open by date; day 4 is unlocked early for everyone (a
    test-utility unlock, honoured outside production). Running it again leaves the same
    state (the start date follows today, content is rewritten, progress is kept)."""
    today = clock.now().astimezone(ZoneInfo(DEMO_TIME_ZONE)).date()
    with transaction.atomic():
        event, created = Event.objects.update_or_create(
            slug=DEMO_SLUG,
            defaults={
                "name": "Daylock Demo",
                "description": "A small demo event: one puzzle a day for a week.",
                "time_zone": DEMO_TIME_ZONE,
                "starts_on": today - timedelta(days=2),
                "day_count": len(DEMO_DAYS),
                "published": True,
            },
        )
        for number, (title, body, normal, veteran) in enumerate(DEMO_DAYS, start=1):
            day, _ = Day.objects.update_or_create(
                event=event, number=number, defaults={"title": title, "body_markdown": body}
            )
            for tier, (prompt, solution) in ((Tier.NORMAL, normal), (Tier.VETERAN, veteran)):
                Challenge.objects.update_or_create(
                    day=day, tier=tier, defaults={"prompt": prompt, "answer": solution}
                )
            if number == 4:
                DayUnlock.objects.get_or_create(day=day, user=None)
        # Kept progress may complete (or no longer complete) a changed event.
        completion_refresh(event=event)
        # A prize, so a draw can be tried in `make run` (simulated outside production).
        if not Prize.objects.filter(event=event, name=DEMO_PRIZE).exists():
            prize_create(
                event=event,
                name=DEMO_PRIZE,
                fulfilment=Fulfilment.MANUAL,
                quantity=3,
                description="Three winners among players who complete the demo.",
            )
    verb = "created" if created else "refreshed"
    return (
        f"demo event {verb}: /events/{DEMO_SLUG}/ ({len(DEMO_DAYS)} days from "
        f"{event.starts_on}, {DEMO_TIME_ZONE}; days 1-3 open, day 4 unlocked early; "
        f"prize {DEMO_PRIZE!r})"
    )
