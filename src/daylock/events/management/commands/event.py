"""``daylock event export SLUG [-o FILE]`` / ``daylock event import FILE [--dry-run] [--yes]``.

Event packs (:mod:`daylock.events.packs`): move a tested event from staging to
production. ``export`` writes the canonical pack (to FILE, or standard output).
``import`` validates the file, prints its plan (create / update / delete / unchanged,
field by field) and applies it:

* ``--dry-run`` prints the plan and writes nothing, in every environment;
* where the policy says ``imports_need_confirmation`` (production) the operator types
  the environment's name at a terminal, or passes ``--yes``; without a terminal and
  without ``--yes`` the import is refused (exit 2);
* an invalid pack or a refused change (an opened day, a closed prize) exits 1 and
  writes nothing; an applied import is audited (``events.pack_import``).
"""

from __future__ import annotations

import hashlib
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daylock import clock, config
from daylock.core.confirm import environment_name_typed, stdin_is_interactive
from daylock.events import packs
from daylock.events.models import Event


class Command(BaseCommand):
    help = "Event packs: export an event to a file, import a file (plan, then apply)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        export = sub.add_parser("export", help="write an event's pack (stdout unless -o)")
        export.add_argument("slug", help="the event's slug")
        export.add_argument("-o", "--output", metavar="FILE", help="write the pack to FILE")
        imp = sub.add_parser("import", help="validate a pack, print the plan, apply it")
        imp.add_argument("file", metavar="FILE", help="the pack file")
        imp.add_argument(
            "--dry-run", action="store_true", help="print the plan, write nothing (any environment)"
        )
        imp.add_argument(
            "--yes", action="store_true", help="confirm without a prompt (where one is needed)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["slug"], options["output"])
        else:
            self._import(Path(options["file"]), dry_run=options["dry_run"], yes=options["yes"])

    def _export(self, slug: str, output: str | None) -> None:
        try:
            event = Event.objects.get(slug=slug)
        except Event.DoesNotExist:
            raise CommandError(
                f"no event with slug {slug!r} in {config.current().app_env}; the staff prize "
                "page lists the events",
                returncode=1,
            ) from None
        data = packs.pack_export(event=event)
        if output is None or output == "-":
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        Path(output).write_bytes(data)
        self.stderr.write(
            f"wrote {output}: event {slug}, sha256 {hashlib.sha256(data).hexdigest()}"
        )

    def _import(self, path: Path, *, dry_run: bool, yes: bool) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}", returncode=1) from None
        try:
            pack = packs.pack_parse(data=data)
        except packs.PackInvalid as exc:
            for problem in exc.problems:
                self.stderr.write(f"{path}: {problem}")
            raise CommandError(
                f"{path} is not a valid event pack ({len(exc.problems)} problem(s) above); "
                "nothing was written",
                returncode=1,
            ) from None
        plan = packs.plan_import(pack, now=clock.now())
        for line in plan.lines():
            self.stdout.write(line)
        if plan.refusals:
            raise CommandError(
                f"import refused ({len(plan.refusals)} REFUSED line(s) above); nothing was written",
                returncode=1,
            )
        if dry_run:
            self.stdout.write("dry run: nothing was written")
            return
        if not plan.writes:
            self.stdout.write("nothing to import: everything is unchanged; nothing was written")
            return
        confirmed = yes
        if config.policy().imports_need_confirmation and not yes:
            self._confirm(plan)
            confirmed = True
        try:
            result = packs.pack_apply(plan=plan, actor=None, confirmed=confirmed)
        except (packs.ImportRefused, packs.PlanStale) as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"imported {result.event.slug} into {plan.environment}: {result.plan.summary()} "
            f"(audit {result.audit_id})"
        )

    def _confirm(self, plan: packs.ImportPlan) -> None:
        environment = plan.environment
        if not stdin_is_interactive():
            raise CommandError(
                f"refusing to import into {environment} without confirmation: no terminal to "
                "ask at; read the plan (--dry-run), then re-run with --yes",
                returncode=2,
            )
        if not environment_name_typed(
            environment=environment, action="import this pack into it", out=self.stdout
        ):
            raise CommandError("aborted: nothing was imported", returncode=1)
