"""Django system checks mirroring the configuration guards.

The guards already stop a misconfigured process at start; these checks make the same
rules visible to Django tooling (``daylock check``) and to any code path that
configures Django without going through :func:`daylock.guardrails.setup_guarded`.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from daylock import config
from daylock.config import Refusal
from daylock.guardrails import check_production_hygiene, check_production_identity


@register("daylock")
def configuration_guards(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    cfg = config.current()
    for guard in (check_production_hygiene, check_production_identity):
        try:
            guard(cfg)
        except Refusal as refusal:
            errors.append(
                Error(f"{refusal.guard}: {refusal.found}", hint=refusal.fix, id="daylock.E001")
            )
    return errors
