from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from daylock import clock, config


def environment(request: HttpRequest) -> dict[str, Any]:
    """The banner (from the policy) and any moved clock, on every page."""
    policy = config.policy()
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    return {
        "daylock_env": policy.name,
        "daylock_banner": policy.banner,
        "daylock_test_utilities": policy.test_utilities,
        "daylock_clock_override": clock.active_override(user_id=user_id),
    }
