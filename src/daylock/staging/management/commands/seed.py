"""``daylock seed [--users N] [--random-seed S] [--add]``: populate a non-production
environment with the seed data set (see :mod:`daylock.staging.seed`)."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from daylock.config import Refusal
from daylock.guardrails import refuse_and_exit
from daylock.staging import guards
from daylock.staging.seed import (
    DEFAULT_RANDOM_SEED,
    DEFAULT_USERS,
    SeedOptions,
    SeedRefused,
    seed_database,
)
from daylock.staging.services import Actor, audit


class Command(BaseCommand):
    # No system checks: they import every URLconf and view (~0.2 s of a reset's
    # process start) and check nothing these commands depend on.
    requires_system_checks: list[str] = []
    help = "Populate this (non-production) environment with test users, events and prizes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--users", type=int, default=DEFAULT_USERS, help=f"how many (default {DEFAULT_USERS})"
        )
        parser.add_argument(
            "--random-seed",
            type=int,
            default=DEFAULT_RANDOM_SEED,
            help="same seed, same day → same data (default %(default)s)",
        )
        parser.add_argument(
            "--add",
            action="store_true",
            help="add test players to a database that already has users",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            guards.require_destructive(command="seed", capability="seed_and_reset")
        except Refusal as refusal:
            refuse_and_exit(refusal)
        try:
            seed_options = SeedOptions(users=options["users"], random_seed=options["random_seed"])
        except ValueError as exc:
            print(f"daylock: seed: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        started = time.perf_counter()
        try:
            result = seed_database(seed_options, add=options["add"])
        except SeedRefused as exc:
            print(f"daylock: seed: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        audit(
            actor=Actor.cli(),
            action="staging.seed",
            target=f"{result.users} users",
            details={"users": seed_options.users, "random_seed": seed_options.random_seed,
                     "add": options["add"]},
        )  # fmt: skip
        self.stdout.write(f"{result.summary()} in {time.perf_counter() - started:.1f}s")
        for note in result.notes:
            self.stdout.write(f"note: {note}")
