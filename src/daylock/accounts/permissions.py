"""Roles → permissions: the one table that says which staff may do what.

Every staff page (``permission_required``), the Django admin (through
:class:`RolePermissionBackend` and :class:`daylock.accounts.admin_site.DaylockAdminSite`)
and the staff links the frame shows (``daylock.site.context_processors``) read
:data:`ROLE_PERMISSIONS`; the README shows the same table. A role is Daylock's
``User.role`` (synced from the Discord roles at every login); a Django superuser (an
operator, made with ``createsuperuser``) counts as an admin. A banned, disabled or
anonymous user has no permission at all.

The management commands are not behind this table: whoever runs ``daylock …`` on the
server is an operator, and the commands run the environment guards instead.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from daylock import config
from daylock.accounts.models import Role

View = Callable[..., HttpResponse]


class Perm(enum.StrEnum):
    """What a staff member may do. Descriptions (for pages and the README) in
    :data:`PERM_DESCRIPTIONS`."""

    AUTHOR = "author"
    RUN_DRAWS = "run_draws"
    READ_PRIZES = "read_prizes"
    HANDLE_REROLLS = "handle_rerolls"
    FULFIL = "fulfil"
    READ_FEEDBACK = "read_feedback"
    READ_OUTBOX = "read_outbox"
    HANDLE_OUTBOX = "handle_outbox"
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"
    TEST_UTILITIES = "test_utilities"


PERM_DESCRIPTIONS: Mapping[Perm, str] = {
    Perm.AUTHOR: "author events, days, challenges, prizes and prize codes",
    Perm.RUN_DRAWS: "close a prize's entries and run its draw",
    Perm.READ_PRIZES: "see the staff prize pages: prizes, draws and winners",
    Perm.HANDLE_REROLLS: "reroll a winner (declined, left the server)",
    Perm.FULFIL: "mark a prize as fulfilled",
    Perm.READ_FEEDBACK: "read players' feedback",
    Perm.READ_OUTBOX: "read the Discord outbox (captured, blocked and sent messages)",
    Perm.HANDLE_OUTBOX: "retry, resend or discard an outbox message",
    Perm.READ_AUDIT: "read the audit log",
    Perm.MANAGE_USERS: "ban and unban users, edit a user's role",
    Perm.TEST_UTILITIES: "use the test utilities (never in production)",
}

#: The table. Admins hold every moderator permission too.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(
        {
            Perm.AUTHOR,
            Perm.RUN_DRAWS,
            Perm.READ_PRIZES,
            Perm.HANDLE_REROLLS,
            Perm.FULFIL,
            Perm.READ_FEEDBACK,
            Perm.READ_OUTBOX,
            Perm.HANDLE_OUTBOX,
            Perm.READ_AUDIT,
            Perm.MANAGE_USERS,
            Perm.TEST_UTILITIES,
        }
    ),
    Role.MODERATOR: frozenset(
        {
            Perm.READ_PRIZES,
            Perm.HANDLE_REROLLS,
            Perm.FULFIL,
            Perm.READ_FEEDBACK,
            Perm.READ_OUTBOX,
            Perm.HANDLE_OUTBOX,
            Perm.READ_AUDIT,
        }
    ),
    Role.PLAYER: frozenset(),
}

#: Permissions that also need the environment to allow them (the policy table in
#: :mod:`daylock.config`): production never has test utilities, whoever asks.
POLICY_GATES: Mapping[Perm, Callable[[config.EnvironmentPolicy], bool]] = {
    Perm.TEST_UTILITIES: lambda policy: policy.test_utilities,
}


@dataclass(frozen=True)
class ModelAccess:
    """Which permission lets the Django admin view, add, change or delete a model.
    ``None``: nobody but a superuser (an operator)."""

    view: frozenset[Perm]
    add: Perm | None = None
    change: Perm | None = None
    delete: Perm | None = None

    @classmethod
    def read(cls, *perms: Perm) -> ModelAccess:
        return cls(view=frozenset(perms))

    @classmethod
    def write(cls, perm: Perm) -> ModelAccess:
        return cls(view=frozenset({perm}), add=perm, change=perm, delete=perm)


#: The Django admin, model by model (``app_label.model_name``). A model not listed is
#: for superusers only: progress rows, wrong answers, groups, the worker's jobs.
#: Draws and winners are read-only in the admin whatever the role: every transition
#: goes through the staff prize pages (locked, audited, announced).
ADMIN_MODELS: Mapping[str, ModelAccess] = {
    "events.event": ModelAccess.write(Perm.AUTHOR),
    "events.day": ModelAccess.write(Perm.AUTHOR),
    "events.challenge": ModelAccess.write(Perm.AUTHOR),
    "prizes.prize": ModelAccess.write(Perm.AUTHOR),
    "prizes.prizecode": ModelAccess.write(Perm.AUTHOR),
    "prizes.draw": ModelAccess.read(Perm.READ_PRIZES),
    "prizes.drawwinner": ModelAccess.read(Perm.READ_PRIZES),
    "events.feedback": ModelAccess.read(Perm.READ_FEEDBACK),
    "discord.outboxmessage": ModelAccess.read(Perm.READ_OUTBOX),
    # Users come from Discord: no adding or deleting them by hand.
    "accounts.user": ModelAccess(view=frozenset({Perm.MANAGE_USERS}), change=Perm.MANAGE_USERS),
    "accounts.discordaccount": ModelAccess.read(Perm.MANAGE_USERS),
}


def role_of(user: Any) -> Role | None:
    """The role whose permissions ``user`` has now; None for anonymous, disabled and
    banned accounts (they have none)."""
    if not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", False) or getattr(user, "is_banned", False):
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    try:
        return Role(getattr(user, "role", Role.PLAYER))
    except ValueError:
        return Role.PLAYER


def perms_of(user: Any) -> frozenset[Perm]:
    """Every permission ``user`` holds in this environment."""
    role = role_of(user)
    if role is None:
        return frozenset()
    policy = config.policy()
    return frozenset(
        perm for perm in ROLE_PERMISSIONS[role] if POLICY_GATES.get(perm, _always)(policy)
    )


def _always(policy: config.EnvironmentPolicy) -> bool:
    return True


def has_perm(user: Any, perm: Perm) -> bool:
    return perm in perms_of(user)


def roles_with(perm: Perm) -> list[Role]:
    return [role for role in Role if perm in ROLE_PERMISSIONS[role]]


def refusal_message(user: Any, perm: Perm) -> str:
    """Why ``user`` may not do ``perm``, and what to do about it."""
    gate = POLICY_GATES.get(perm)
    policy = config.policy()
    if gate is not None and not gate(policy):
        return (
            f"You may not {PERM_DESCRIPTIONS[perm]} here: the {policy.name} environment "
            "does not have them. Use staging or development."
        )
    roles = " or ".join(role.label.lower() for role in roles_with(perm))
    role = role_of(user)
    current = role.label.lower() if role is not None else "no role"
    return (
        f"To {PERM_DESCRIPTIONS[perm]} you need the {roles} role; your account has "
        f"{current}. Ask an admin of the Discord server for the role, then log out and "
        "log in again so Daylock reads it."
    )


#: The attribute ``permission_required`` leaves on a view (kept through
#: ``functools.wraps`` by the decorators around it), for tests and tooling.
PERMISSION_ATTRIBUTE = "daylock_permission"


def permission_required(perm: Perm) -> Callable[[View], View]:
    """Anonymous visitors go to the login page; a logged-in account without ``perm``
    gets a 403 that says which role it needs. Put it outermost, so that a refusal does
    not depend on the HTTP method."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_perm(request.user, perm):
                raise PermissionDenied(refusal_message(request.user, perm))
            return view(request, *args, **kwargs)

        setattr(wrapper, PERMISSION_ATTRIBUTE, perm)
        return wrapper

    return decorator


def required_permission(view: Any) -> Perm | None:
    """The permission a view was decorated with, if any."""
    perm = getattr(view, PERMISSION_ATTRIBUTE, None)
    return perm if isinstance(perm, Perm) else None


# --- the Django admin ------------------------------------------------------------------


def model_permissions(user: Any, model_label: str) -> frozenset[str]:
    """The Django admin actions (``view``, ``add``, ``change``, ``delete``) ``user``
    may take on a model, per :data:`ADMIN_MODELS`."""
    access = ADMIN_MODELS.get(model_label)
    held = perms_of(user)
    if access is None or not held:
        return frozenset()
    allowed = set()
    for action in ("add", "change", "delete"):
        needed: Perm | None = getattr(access, action)
        if needed is not None and needed in held:
            allowed.add(action)
    if allowed or access.view & held:
        allowed.add("view")
    return frozenset(allowed)


def admin_site_allowed(user: Any) -> bool:
    """May open the Django admin at all: a superuser, or a role that may view at least
    one model there."""
    if role_of(user) is None:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return any(model_permissions(user, label) for label in ADMIN_MODELS)


class RolePermissionBackend(BaseBackend):
    """Answers Django's permission questions (``user.has_perm("events.change_event")``,
    which the admin asks) from :data:`ADMIN_MODELS` and the role table, so a Discord
    admin needs no Django groups or per-user permissions. Authenticates nobody."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        found: set[str] = set()
        for label in ADMIN_MODELS:
            app_label, model_name = label.split(".")
            for action in model_permissions(user_obj, label):
                found.add(f"{app_label}.{action}_{model_name}")
        return found

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        prefix = f"{app_label}."
        return any(perm.startswith(prefix) for perm in self.get_all_permissions(user_obj))
