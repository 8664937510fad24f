"""``daylock draw list | close PRIZE [--force REASON] | run PRIZE [--yes] | verify DRAW``.

* ``list``: one line per draw, starting with its id:
  ``id status prize=<id> "<prize name>" event=<slug> entrants=<n> winners=<n> [simulated]``.
* ``close PRIZE [--force "reason"]``: freeze the entrant list, print the commitment.
  Refused (exit 1, saying why) while the event has locked days or guild membership was
  not synced recently; ``--force`` closes anyway, and the reason is published on the
  draw's page and audited.
* ``run PRIZE``: reveal the seed and pick the winners. In production it asks for
  confirmation at a prompt; without a terminal it refuses (exit 2) unless ``--yes``.
* ``verify DRAW``: recompute the draw from the stored entrants and seed; exit 0 and
  ``OK …`` when everything matches, exit 1 and one line per difference when not.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daylock import config
from daylock.prizes import selectors, services
from daylock.prizes.models import Draw, Prize


class Command(BaseCommand):
    help = "Verifiable prize draws: list, close entries, run, verify."

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        sub.add_parser("list", help="one line per draw, starting with its id")
        close = sub.add_parser("close", help="close entries: freeze and commit the entrant list")
        close.add_argument("prize", type=int, help="prize id")
        close.add_argument(
            "--force",
            metavar="REASON",
            help="close although days are still locked or membership is not fresh; the "
            "reason is published on the draw page",
        )
        run = sub.add_parser("run", help="run a prize's draw (entries must be closed)")
        run.add_argument("prize", type=int, help="prize id")
        run.add_argument("--yes", action="store_true", help="confirm without a prompt (production)")
        verify = sub.add_parser("verify", help="recompute a draw and compare")
        verify.add_argument("draw", type=int, help="draw id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "list":
                self._list()
            elif action == "close":
                self._close(options["prize"], force_reason=options["force"])
            elif action == "run":
                self._run(options["prize"], yes=options["yes"])
            elif action == "verify":
                self._verify(options["draw"])
        except services.DrawError as exc:
            raise CommandError(str(exc), returncode=1) from exc

    def _prize(self, prize_id: int) -> Prize:
        try:
            return selectors.prize_get(prize_id=prize_id)
        except Prize.DoesNotExist:
            raise CommandError(f"no prize with id {prize_id}", returncode=1) from None

    def _list(self) -> None:
        for d in selectors.draws_list():
            entrants = "-" if d.entrant_count is None else d.entrant_count
            line = (
                f'{d.pk} {d.status} prize={d.prize_id} "{d.prize.name}" '
                f"event={d.prize.event.slug} entrants={entrants} winners={d.current_winners}"  # type: ignore[attr-defined]
            )
            self.stdout.write(line + (" simulated" if d.simulated else ""))

    def _close(self, prize_id: int, *, force_reason: str | None) -> None:
        c = services.draw_close_entries(
            prize=self._prize(prize_id), actor=None, force_reason=force_reason
        )
        self.stdout.write(
            f"draw {c.draw_id}: entries closed, {c.entrant_count} entrant(s)\n"
            f"seed_hash     {c.seed_hash}\nentrants_hash {c.entrants_hash}"
        )

    def _run(self, prize_id: int, *, yes: bool) -> None:
        prize = self._prize(prize_id)
        confirmed = yes
        if config.policy().draws_need_confirmation and not yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"refusing to run the draw of prize {prize.pk} in production without "
                    "confirmation: no terminal to ask at; re-run with --yes",
                    returncode=2,
                )
            self.stdout.write(
                f'Run the draw of prize {prize.pk} "{prize.name}" ({prize.event.name}) in '
                "PRODUCTION? Real prizes are released and it cannot be undone.\n"
                "Type yes to continue: ",
                ending="",
            )
            self.stdout.flush()
            if sys.stdin.readline().strip().lower() != "yes":
                raise CommandError("aborted: the draw was not run", returncode=1)
            confirmed = True
        draw = services.draw_run(prize=prize, actor=None, confirm=confirmed)
        self.stdout.write(
            f"draw {draw.pk} drawn{' (simulated)' if draw.simulated else ''}: seed {draw.seed}"
        )
        for w in selectors.draw_winners(draw=draw):
            self.stdout.write(f"  rank {w.rank}: user {w.user_id} ({selectors.winner_label(w)})")

    def _verify(self, draw_id: int) -> None:
        try:
            draw = selectors.draw_get(draw_id=draw_id)
        except Draw.DoesNotExist:
            raise CommandError(f"no draw with id {draw_id}", returncode=1) from None
        result = selectors.draw_verify(draw=draw)
        if result.ok:
            self.stdout.write(f"OK {result.summary}")
            return
        for problem in result.problems:
            self.stderr.write(f"MISMATCH draw {draw.pk}: {problem}")
        raise CommandError(
            f"draw {draw.pk} does not verify: {len(result.problems)} difference(s)", returncode=1
        )
