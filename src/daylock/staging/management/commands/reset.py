"""``daylock reset [--yes] [--full]``: wipe this (non-production) environment's
database and its own Redis keys, migrate and re-seed (see :mod:`daylock.staging.reset`)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from daylock.config import Refusal
from daylock.core.confirm import environment_name_typed, stdin_is_interactive
from daylock.guardrails import refuse_and_exit
from daylock.staging import reset as reset_module
from daylock.staging.seed import DEFAULT_RANDOM_SEED, DEFAULT_USERS, SeedOptions
from daylock.staging.services import Actor, audit


class Command(BaseCommand):
    # No system checks: they import every URLconf and view (~0.2 s of a reset's
    # process start) and check nothing these commands depend on.
    requires_system_checks: list[str] = []
    help = (
        "Wipe this environment's database and Redis keys, migrate and re-seed. "
        "Prints its plan; needs --yes or the environment's name typed at the prompt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--full",
            action="store_true",
            help="drop, create, migrate and seed from scratch (skip the template database)",
        )
        parser.add_argument("--users", type=int, default=DEFAULT_USERS)
        parser.add_argument("--random-seed", type=int, default=DEFAULT_RANDOM_SEED)

    def handle(self, *args: Any, **options: Any) -> None:
        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            seed_options = SeedOptions(users=options["users"], random_seed=options["random_seed"])
        except ValueError as exc:
            print(f"daylock: reset: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        try:
            plan = reset_module.make_plan(full=options["full"], options=seed_options)
            for line in plan.lines():
                say(line)
            if not options["yes"]:
                self._confirm(plan.environment)
            result = reset_module.execute(plan, say=say)
        except Refusal as refusal:
            refuse_and_exit(refusal)
        audit(
            actor=Actor.cli(),
            action="staging.reset",
            target=plan.database,
            details={"mode": result.mode, "seconds": round(result.seconds, 3),
                     "template_built": result.template_built,
                     "instance_id": result.stamp.instance_id if result.stamp else None},
        )  # fmt: skip
        steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.steps)
        say(
            f"reset {plan.environment} ({result.mode}) in {result.seconds:.2f}s: {steps}; "
            f"{result.redis_keys_deleted} Redis keys deleted"
        )
        if result.stamp is not None:
            say(
                f"database stamped {result.stamp.environment} (instance {result.stamp.instance_id})"
            )

    def _confirm(self, environment: str) -> None:
        if not stdin_is_interactive():
            raise Refusal(
                "reset",
                "not confirmed: no --yes and no terminal to ask on",
                "pass --yes to confirm a non-interactive reset",
            )
        if not environment_name_typed(environment=environment, action="wipe it", out=self.stdout):
            print("daylock: reset: aborted; nothing was changed", file=sys.stderr)
            raise SystemExit(1)
