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
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from daylock import clock, config
from daylock.accounts.names import user_avatar_url, user_display_name
from daylock.accounts.permissions import Perm, admin_site_allowed, perms_of


@dataclass(frozen=True)
class StaffLink:
    label: str
    url: str


#: The staff pages the frame links to, each shown to whoever holds its permission (the
#: pages check again: this only hides links). The test utilities' permission is gated
#: by the environment policy, so production never links to them.
STAFF_PAGES: tuple[tuple[Perm, str, str], ...] = (
    (Perm.READ_PRIZES, "Prizes", "prizes:staff_events"),
    (Perm.AUTHOR, "Edit events", "editor:list"),
    (Perm.AUTHOR, "Event packs", "packs:upload"),
    (Perm.READ_OUTBOX, "Outbox", "discord:outbox_list"),
    (Perm.READ_AUDIT, "Audit log", "audit"),
    (Perm.TEST_UTILITIES, "Test utilities", "staging:index"),
)


@dataclass(frozen=True)
class Viewer:
    signed_in: bool
    #: As Discord shows them (:mod:`daylock.accounts.names`).
    name: str
    #: The staff pages this viewer may open, in the frame's order (empty for players).
    staff_links: tuple[StaffLink, ...] = ()
    #: Their Discord avatar; empty without a Discord account.
    avatar_url: str = ""


ANONYMOUS = Viewer(signed_in=False, name="")


def staff_links(user: Any) -> tuple[StaffLink, ...]:
    held = perms_of(user)
    if not held:
        return ()
    links = []
    for perm, label, name in STAFF_PAGES:
        if perm not in held:
            continue
        try:
            links.append(StaffLink(label, reverse(name)))
        except NoReverseMatch:
            # Not mounted by the URLconf this process loaded (the test utilities'
            # URLs follow the policy at import, the permission the policy now).
            continue
    if admin_site_allowed(user):
        links.append(StaffLink("Admin", reverse("admin:index")))
    return tuple(links)


def frame(request: HttpRequest) -> dict[str, Any]:
    """The frame's values apart from the CSRF field."""
    policy = config.policy()
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    viewer = (
        Viewer(
            signed_in=True,
            name=user_display_name(user),
            staff_links=staff_links(user),
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
