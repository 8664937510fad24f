"""What every page's frame (``base.html``) shows: the environment banner, a moved
clock, who is looking and the navigation.

Everything here is plain values, computed once per request (the navigation once per
process): the frame is rendered on every page view, and each ``user.…`` lookup in a
template goes through the lazy ``request.user`` proxy, which cost more than the rest
of the header together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.backends.utils import csrf_input
from django.urls import get_script_prefix, reverse
from django.utils.functional import SimpleLazyObject

from daylock import clock, config
from daylock.accounts.permissions import is_staff_user

#: Template name → URL name of the links in the frame (none takes arguments).
_NAV_URL_NAMES = {
    "home": "home",
    "events": "events:list",
    "profile": "events:profile",
    "my_prizes": "prizes:mine",
    "staff_prizes": "prizes:staff_events",
    "login": "accounts:login",
    "logout": "accounts:logout",
}


@dataclass(frozen=True)
class Viewer:
    signed_in: bool
    name: str
    #: Sees the links to staff pages (the pages check again, this only hides links).
    staff: bool


ANONYMOUS = Viewer(signed_in=False, name="", staff=False)


@functools.lru_cache(maxsize=8)
def nav_urls(script_prefix: str) -> dict[str, str]:
    """The frame's links; they depend only on the URLconf and the script prefix."""
    return {key: reverse(name) for key, name in _NAV_URL_NAMES.items()}


def environment(request: HttpRequest) -> dict[str, Any]:
    policy = config.policy()
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    viewer = (
        Viewer(signed_in=True, name=user.get_username(), staff=is_staff_user(user))
        if user is not None and signed_in
        else ANONYMOUS
    )
    return {
        "daylock_env": policy.name,
        "daylock_banner": policy.banner,
        "daylock_test_utilities": policy.test_utilities,
        "daylock_clock_override": clock.active_override(
            user_id=user.pk if user is not None and signed_in else None
        ),
        "viewer": viewer,
        "nav": nav_urls(get_script_prefix()),
        # The hidden CSRF field, computed once per page: the Jinja2 backend's own
        # ``csrf_input`` masks the token again at every form (32 random draws each).
        "csrf_input": SimpleLazyObject(lambda: csrf_input(request)),
    }
