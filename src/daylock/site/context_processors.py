"""What every page's frame (``base.html``) shows: the environment banner, a moved
clock and who is looking.

Everything here is plain values, computed once per request: the frame is rendered on
every page view, and each ``user.…`` lookup in a template goes through the lazy
``request.user`` proxy, which cost more than the rest of the header together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.backends.utils import csrf_input
from django.utils.functional import SimpleLazyObject

from daylock import clock, config
from daylock.accounts.names import user_avatar_url, user_display_name
from daylock.accounts.permissions import is_staff_user


@dataclass(frozen=True)
class Viewer:
    signed_in: bool
    #: As Discord shows them (:mod:`daylock.accounts.names`).
    name: str
    #: Sees the links to staff pages (the pages check again, this only hides links).
    staff: bool
    #: Their Discord avatar; empty without a Discord account.
    avatar_url: str = ""


ANONYMOUS = Viewer(signed_in=False, name="", staff=False)


def frame(request: HttpRequest) -> dict[str, Any]:
    """The frame's values apart from the CSRF field."""
    policy = config.policy()
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    viewer = (
        Viewer(
            signed_in=True,
            name=user_display_name(user),
            staff=is_staff_user(user),
            avatar_url=user_avatar_url(user),
        )
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
    }


def offline_frame() -> dict[str, Any]:
    """The frame for a page shown while the database cannot be read (the 503 of a
    reset): the environment banner, nobody signed in (the session and the user live
    in the database) and no moved clock (the override does too)."""
    policy = config.policy()
    return {
        "daylock_env": policy.name,
        "daylock_banner": policy.banner,
        "daylock_test_utilities": policy.test_utilities,
        "daylock_clock_override": None,
        "viewer": ANONYMOUS,
    }


def environment(request: HttpRequest) -> dict[str, Any]:
    return {
        **frame(request),
        # The hidden CSRF field, computed once per page: the Jinja2 backend's own
        # ``csrf_input`` masks the token again at every form (32 random draws each).
        "csrf_input": SimpleLazyObject(lambda: csrf_input(request)),
    }
