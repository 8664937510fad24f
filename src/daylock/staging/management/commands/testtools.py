"""``daylock testtools <utility> …``: the admin-only test utilities on the command line.

    daylock testtools unlock-day --event SLUG --day N [--user USERNAME]
    daylock testtools complete --user USERNAME --event SLUG --tier normal|veteran
    daylock testtools clock set (--to ISO8601 | --forward 1d2h) [--user USERNAME]
    daylock testtools clock reset [--user USERNAME]
    daylock testtools clock show
    daylock testtools eligibility --user USERNAME --event SLUG
                                  (--eligible | --ineligible) --reason TEXT | --clear

Refused (exit 2) wherever the policy has no test utilities (production) or the
database is stamped production. Every use is audited with actor ``cli``.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from daylock import clock
from daylock.config import Refusal
from daylock.guardrails import refuse_and_exit
from daylock.staging import guards, selectors, services
from daylock.staging.parsing import format_offset, parse_duration, parse_instant
from daylock.staging.services import Actor, TestToolError


class Command(BaseCommand):
    # No system checks: they import every URLconf and view (~0.2 s of a reset's
    # process start) and check nothing these commands depend on.
    requires_system_checks: list[str] = []
    help = "Admin-only test utilities (non-production only): unlock, complete, clock, eligibility."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="utility", required=True, metavar="utility")

        unlock = sub.add_parser("unlock-day", help="open an event day now (everyone or one user)")
        unlock.add_argument("--event", required=True, metavar="SLUG")
        unlock.add_argument("--day", required=True, type=int, metavar="N")
        unlock.add_argument("--user", metavar="USERNAME", help="only for this user")

        complete = sub.add_parser(
            "complete", help="record a tier's progress on every day (veteran: veteran only)"
        )
        complete.add_argument("--user", required=True, metavar="USERNAME")
        complete.add_argument("--event", required=True, metavar="SLUG")
        complete.add_argument("--tier", required=True, choices=["normal", "veteran"])

        clock_parser = sub.add_parser("clock", help="move the clock (environment or one user)")
        clock_sub = clock_parser.add_subparsers(
            dest="clock_action", required=True, metavar="action"
        )
        clock_set = clock_sub.add_parser("set", help="move the clock")
        target = clock_set.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--to", metavar="ISO8601", help="e.g. 2025-12-03T00:00:00Z (UTC if no offset)"
        )
        target.add_argument("--forward", metavar="DURATION", help="e.g. 1d2h, 90m, -3d")
        clock_set.add_argument("--user", metavar="USERNAME", help="only this user's clock")
        clock_reset = clock_sub.add_parser("reset", help="back to wall time")
        clock_reset.add_argument("--user", metavar="USERNAME", help="only this user's override")
        clock_sub.add_parser("show", help="list the overrides in force")

        elig = sub.add_parser("eligibility", help="force a user in/out of an event's prize draws")
        elig.add_argument("--user", required=True, metavar="USERNAME")
        elig.add_argument("--event", required=True, metavar="SLUG")
        verdict = elig.add_mutually_exclusive_group(required=True)
        verdict.add_argument("--eligible", action="store_true")
        verdict.add_argument("--ineligible", action="store_true")
        verdict.add_argument("--clear", action="store_true", help="remove the override")
        elig.add_argument("--reason", default="", help="required with --eligible/--ineligible")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            guards.require_destructive(command="testtools", capability="test_utilities")
            line = self._run(options)
        except Refusal as refusal:
            refuse_and_exit(refusal)
        except TestToolError as exc:
            print(f"daylock: testtools: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        self.stdout.write(line)

    def _user(self, username: str | None) -> Any:
        return selectors.user_get(username=username) if username else None

    def _run(self, options: dict[str, Any]) -> str:
        actor = Actor.cli()
        utility = options["utility"]
        if utility == "unlock-day":
            event = selectors.event_get(slug=options["event"])
            user = self._user(options["user"])
            services.day_unlock(actor=actor, event=event, number=options["day"], user=user)
            who = f"user {user.username}" if user else "everyone"
            return f"unlocked {event.slug} day {options['day']} for {who}"
        if utility == "complete":
            from daylock.events.models import Tier

            user = selectors.user_get(username=options["user"])
            event = selectors.event_get(slug=options["event"])
            new = services.user_mark_completed(
                actor=actor, user=user, event=event, tier=Tier(options["tier"])
            )
            return (
                f"{user.username} completed {event.slug} at {options['tier']} tier "
                f"({new} new progress rows)"
            )
        if utility == "clock":
            return self._clock(options, actor)
        if utility == "eligibility":
            user = selectors.user_get(username=options["user"])
            event = selectors.event_get(slug=options["event"])
            if options["clear"]:
                had = services.eligibility_clear(actor=actor, user=user, event=event)
                return f"eligibility override for {user.username} on {event.slug} " + (
                    "cleared" if had else "was not set"
                )
            eligible = bool(options["eligible"])
            services.eligibility_set(
                actor=actor, user=user, event=event, eligible=eligible, reason=options["reason"]
            )
            verdict = "eligible" if eligible else "ineligible"
            return f"{user.username} forced {verdict} for {event.slug}"
        raise TestToolError(f"unknown utility {utility!r}")

    def _clock(self, options: dict[str, Any], actor: Actor) -> str:
        action = options["clock_action"]
        if action == "show":
            rows = selectors.clock_overrides()
            lines = [f"environment clock: {clock.now().isoformat(timespec='seconds')}"]
            for row in rows:
                moved = row.moved_to.isoformat(timespec="seconds")
                lines.append(f"{row.scope}: {format_offset(row.offset)} → {moved}")
            return "\n".join(lines)
        user = self._user(options["user"])
        who = f"user {user.username}" if user else "the environment"
        if action == "reset":
            had = services.clock_reset(actor=actor, user=user)
            return f"clock of {who} " + ("back to wall time" if had else "was not moved")
        try:
            to = parse_instant(options["to"]) if options["to"] else None
            forward = parse_duration(options["forward"]) if options["forward"] else None
        except ValueError as exc:
            raise TestToolError(str(exc)) from None
        override = services.clock_set(actor=actor, to=to, forward=forward, user=user)
        now = clock.now(user_id=user.pk if user else None)
        return (
            f"clock of {who} moved to {now.isoformat(timespec='seconds')} "
            f"(offset {format_offset(override.offset)})"
        )
