"""``daylock demo_data``: the demo event for ``make run`` (non-production only)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from daylock import config
from daylock.config import Refusal
from daylock.events import demo
from daylock.guardrails import refuse_and_exit


class Command(BaseCommand):
    help = (
        "Create or refresh the published demo event 'Daylock Demo' (7 days, starting two "
        "days ago event-local). Idempotent. Refused where seeding is not allowed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        policy = config.policy()
        if not policy.seed_and_reset:
            refuse_and_exit(
                Refusal(
                    "seed",
                    f"demo_data would write demo content into the {policy.name} database",
                    "demo data is for development and staging only; create real events in "
                    "the admin",
                )
            )
        summary = demo.demo_event_ensure()
        self.stdout.write(summary)
