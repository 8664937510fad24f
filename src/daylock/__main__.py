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

    if command == "runserver":
        _public_url_from_runserver(argv[2:])
    from daylock.guardrails import setup_guarded

    setup_guarded(resources=command not in _NO_RESOURCES)
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


def _public_url_from_runserver(args: list[str]) -> None:
    """Where the policy allows it (development), ``daylock runserver 8123`` serves its
    OAuth callback and embedded emulator on 8123 without a ``PUBLIC_URL`` of its own."""
    from daylock.config import POLICIES, Refusal, parse_app_env, runserver_public_url

    if os.environ.get("PUBLIC_URL", "").strip():
        return
    try:
        environment = parse_app_env(os.environ)
    except Refusal:
        return  # the guards refuse it with the full message
    if POLICIES[environment].public_url_from_runserver:
        os.environ["PUBLIC_URL"] = runserver_public_url(args)


if __name__ == "__main__":
    main()
