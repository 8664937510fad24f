"""The ``daylock`` command: Django's management commands behind the guards.

Every command runs the guards first (``doctor`` runs them itself, to report each);
a refusal exits with status 2 and one ``daylock: refused: …`` line on stderr.
"""

from __future__ import annotations

import os
import sys

#: Commands that do not touch the environment's database or Redis (they still need
#: valid flags and configuration).
_NO_RESOURCES = {"emulator", "help", "version", "--help", "-h", "--version"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "daylock"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daylock.settings")
    command = argv[1] if len(argv) > 1 else "help"
    if command == "doctor":
        from daylock.guardrails import run_doctor

        results = run_doctor()
        for result in results:
            print(result.line())
        raise SystemExit(0 if all(r.passed for r in results) else 2)

    from daylock.guardrails import setup_guarded

    setup_guarded(resources=command not in _NO_RESOURCES)
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
