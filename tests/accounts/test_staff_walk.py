"""Every staff URL by every role, from the URL resolver (issue 14 item 1).

The URL list is generated (``tests/core/urlwalk.py``): every pattern under ``staff/``
and ``admin/`` (and ``…/staff/…``), plus any view decorated with
``permission_required`` wherever it is mounted, with sample objects for the arguments.
A staff URL whose view declares no permission, an admin page this file has no rule for,
or an argument without a sample fails the test — so a new staff URL cannot slip in
without a rule.

Who may do what is written out again here (:data:`MAY`) from the issue, on purpose:
the code's table (:data:`daylock.accounts.permissions.ROLE_PERMISSIONS`) must agree
with it, and every page must agree with both.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin import site as admin_site
from django.test import Client, RequestFactory
from django.urls import clear_url_caches, reverse

import daylock.urls
from daylock.accounts import permissions
from daylock.accounts.models import Role, User
from daylock.accounts.permissions import ADMIN_MODELS, ROLE_PERMISSIONS, Perm
from tests.config_override import production
from tests.core.urlwalk import Endpoint, Samples, endpoints, make_samples, staff_users

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "player", "moderator", "admin", "banned admin")

#: The issue's table, role by role (admins hold every moderator permission too).
MAY: dict[Perm, frozenset[str]] = {
    Perm.AUTHOR: frozenset({"admin"}),
    Perm.RUN_DRAWS: frozenset({"admin"}),
    Perm.TEST_UTILITIES: frozenset({"admin"}),
    Perm.MANAGE_USERS: frozenset({"admin"}),
    Perm.READ_PRIZES: frozenset({"admin", "moderator"}),
    Perm.HANDLE_REROLLS: frozenset({"admin", "moderator"}),
    Perm.FULFIL: frozenset({"admin", "moderator"}),
    Perm.READ_FEEDBACK: frozenset({"admin", "moderator"}),
    Perm.READ_OUTBOX: frozenset({"admin", "moderator"}),
    Perm.HANDLE_OUTBOX: frozenset({"admin", "moderator"}),
    Perm.READ_AUDIT: frozenset({"admin", "moderator"}),
}

LOGIN = "302 to login"
ALLOWED = "allowed"  # 200 for a page; a POST-only view: 405 on GET, then the POST acts


def test_the_code_table_is_the_issue_table() -> None:
    assert set(MAY) == set(Perm), "a new permission needs its row in MAY (and the README)"
    for perm, roles in MAY.items():
        holders = {role.value for role, held in ROLE_PERMISSIONS.items() if perm in held}
        assert holders == roles, perm
    assert ROLE_PERMISSIONS[Role.PLAYER] == frozenset()


# --- what each page should answer --------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    outcome: str  # LOGIN, ALLOWED, or a status code as text ("403", "404", "405", "302")
    why: str
    #: A 403 that refuses the role (it must say what to do), not one for a bad request.
    refusal: bool = True


def _site_roles() -> set[str]:
    """Roles that may enter the Django admin: those that may view some model."""
    return {
        role
        for access in ADMIN_MODELS.values()
        for perm in (*access.view, access.add, access.change, access.delete)
        if perm is not None
        for role in MAY[perm]
    }


def _admin_actions(model_label: str, role: str) -> set[str]:
    """What the table lets ``role`` do with a model in the admin."""
    access = ADMIN_MODELS.get(model_label)
    if access is None:
        return set()
    actions = {
        action
        for action in ("add", "change", "delete")
        if (perm := getattr(access, action)) is not None and role in MAY[perm]
    }
    if actions or any(role in MAY[perm] for perm in access.view):
        actions.add("view")
    return actions


def _class_allows(model_admin: Any, operator: User, obj: Any) -> set[str]:
    """What the ModelAdmin class itself allows at all (asked as a superuser, who has
    every Django permission): read-only admins refuse add, change or delete to anyone."""
    request = RequestFactory().get("/admin/")
    request.user = operator
    allowed = set()
    if model_admin.has_view_permission(request, obj):
        allowed.add("view")
    if model_admin.has_add_permission(request):
        allowed.add("add")
    if model_admin.has_change_permission(request, obj):
        allowed.add("change")
    if model_admin.has_delete_permission(request, obj):
        allowed.add("delete")
    return allowed


def admin_rule(endpoint: Endpoint, role: str, samples: Samples, operator: User) -> Rule:
    name = (endpoint.name or "").removeprefix("admin:")
    if name == "login":
        if role in _site_roles():
            return Rule("302", "already in: sent to the admin index")
        return Rule("200", "the login page is public")
    if role in ("anonymous", "banned admin"):
        if name == "logout":
            return Rule("302", "Django sends a logged-out visitor of logout to the index")
        return Rule(LOGIN, "not logged in (a banned account's session no longer logs in)")
    if role not in _site_roles():
        return Rule("403", "no role that may view any admin model")
    model_admin = endpoint.model_admin
    if model_admin is None:
        site_rules = {
            "index": Rule("200", "staff see the index"),
            "logout": Rule("405", "logging out is a POST"),
            "password_change": Rule("200", "any staff account"),
            "password_change_done": Rule("200", "any staff account"),
            "jsi18n": Rule("200", "any staff account"),
            "autocomplete": Rule(
                "403", "Django refuses an autocomplete that names no field", refusal=False
            ),
            "view_on_site": Rule("404", "a user has no public page"),
        }
        if name == "app_list":
            app_label = endpoint.path.strip("/").split("/")[-1]
            visible = any(
                _admin_actions(label, role)
                for label in ADMIN_MODELS
                if label.startswith(f"{app_label}.")
            )
            return Rule("200" if visible else "404", f"{role} may view a model of {app_label}")
        if not name and endpoint.route.endswith("(?P<url>.*)$"):
            return Rule("404", "the admin's catch-all")
        if name in site_rules:
            return site_rules[name]
        raise AssertionError(f"no rule for the admin page {endpoint}: add one to admin_rule")
    opts = model_admin.model._meta
    label = opts.label_lower
    obj = samples.object_of(model_admin.model)
    may = _admin_actions(label, role) & _class_allows(model_admin, operator, obj)
    prefix = f"{opts.app_label}_{opts.model_name}_"
    if not name:
        return Rule("302", "<id>/ redirects to the change page")
    action = name.removeprefix(prefix)
    needs = {
        "changelist": {"view", "change"},
        "change": {"view", "change"},
        "history": {"view", "change"},
        "add": {"add"},
        "delete": {"delete"},
    }
    if label == "accounts.user" and name.endswith("_user_password_change"):
        # Django names it auth_user_password_change whatever the user model.
        return Rule("403", "setting a password is for operators (superusers) only")
    if action not in needs:
        raise AssertionError(f"no rule for the admin page {endpoint}: add one to admin_rule")
    ok = bool(may & needs[action])
    return Rule("200" if ok else "403", f"{role} {'may' if ok else 'may not'} {action} {label}")


def staff_rule(endpoint: Endpoint, role: str) -> Rule:
    perm = permissions.required_permission(endpoint.callback)
    if perm is None:
        raise AssertionError(
            f"{endpoint} is a staff URL whose view declares no permission: decorate it "
            "with daylock.accounts.permissions.permission_required(Perm.…)"
        )
    if role in ("anonymous", "banned admin"):
        return Rule(LOGIN, "not logged in (a banned account's session no longer logs in)")
    if role in MAY[perm]:
        return Rule(ALLOWED, f"{role} may {perm}")
    return Rule("403", f"{role} may not {perm}")


# --- walking -------------------------------------------------------------------------------


def _login_url(location: str) -> bool:
    return location.startswith((settings.LOGIN_URL, reverse("admin:login")))


def outcome_of(response: Any) -> str:
    if response.status_code == 302 and _login_url(response["Location"]):
        return LOGIN
    return str(response.status_code)


@pytest.fixture
def samples(django_capture_on_commit_callbacks: Callable[..., Any]) -> Samples:
    return make_samples(django_capture_on_commit_callbacks)


@pytest.fixture
def users() -> dict[str, User | None]:
    return staff_users()


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _walked(samples: Samples) -> Iterator[Endpoint]:
    for endpoint in endpoints(samples):
        if endpoint.is_staff_path or permissions.required_permission(endpoint.callback):
            yield endpoint


def check(endpoint: Endpoint, role: str, rule: Rule, user: User | None) -> list[str]:
    """Request ``endpoint`` as ``role``; what differs from ``rule`` (empty: all good)."""
    client = _client(user)
    problems = []
    got = client.get(endpoint.path)
    seen = outcome_of(got)
    if rule.outcome == ALLOWED:
        if seen == "405":
            assert "GET" not in got.get("Allow", ""), endpoint
            posted = outcome_of(client.post(endpoint.path, {}))
            if posted in (LOGIN, "403", "404", "405"):
                problems.append(f"{endpoint} as {role}: POST {posted}, expected allowed")
        elif seen != "200":
            problems.append(f"{endpoint} as {role}: GET {seen}, expected 200 ({rule.why})")
        return problems
    if seen != rule.outcome:
        problems.append(f"{endpoint} as {role}: GET {seen}, expected {rule.outcome} ({rule.why})")
    if rule.outcome == "403" and seen == "403" and rule.refusal:
        body = got.content.decode()
        if "log in again" not in body and "operator" not in body:
            problems.append(f"{endpoint} as {role}: the 403 does not say what to do")
    # A refusal does not depend on the method (the admin's pages all answer GET: their
    # refusals are Django's own, checked above).
    if rule.outcome in (LOGIN, "403") and rule.refusal and not endpoint.is_admin:
        posted = outcome_of(client.post(endpoint.path, {}))
        if posted != rule.outcome:
            problems.append(f"{endpoint} as {role}: POST {posted}, expected {rule.outcome}")
    return problems


def test_every_staff_url_for_every_role(samples: Samples, users: dict[str, User | None]) -> None:
    operator = User.objects.create_superuser("walk-operator", password="x")
    walked = list(_walked(samples))
    # The walk reaches every kind of staff page (a broken resolver walk finds nothing).
    names = {e.name for e in walked}
    for expected in (
        "audit",
        "discord:outbox_detail",
        "prizes:staff_reroll",
        "staging:clock",
        "admin:index",
        "admin:events_event_change",
        "admin:prizes_prize_delete",
        # The event editor (issue 14 item 2): admins only, the preview included.
        "editor:list",
        "editor:new",
        "editor:edit",
        "editor:prize_new",
        "editor:prize_edit",
        "editor:preview",
        "editor:directory_refresh",
    ):
        assert expected in names, expected
    assert len(walked) > 60
    problems: list[str] = []
    outcomes: dict[str, set[str]] = {role: set() for role in ROLES}
    for endpoint in walked:
        for role in ROLES:
            if endpoint.is_admin:
                rule = admin_rule(endpoint, role, samples, operator)
            else:
                rule = staff_rule(endpoint, role)
            outcomes[role].add(rule.outcome)
            problems += check(endpoint, role, rule, users[role])
    assert not problems, "\n".join(problems)
    # Every kind of answer was exercised.
    assert outcomes["anonymous"] >= {LOGIN}
    assert outcomes["player"] >= {"403"}
    assert outcomes["moderator"] >= {"200", "403", ALLOWED}
    assert outcomes["admin"] >= {"200", "403", "404", ALLOWED}


def test_in_production_the_same_staff_pages_answer_and_test_utilities_do_not_exist(
    samples: Samples, users: dict[str, User | None]
) -> None:
    """Walked with staging's URL list: in production every test-utility path is a 404
    for every role (not mounted), and every other staff page (the audit log included)
    follows the same table."""
    staging_urls = [e for e in _walked(samples) if not e.is_admin]
    assert any(e.name == "staging:index" for e in staging_urls)
    problems: list[str] = []
    with production():
        clear_url_caches()
        importlib.reload(daylock.urls)
        try:
            for endpoint in staging_urls:
                for role in ROLES:
                    if permissions.required_permission(endpoint.callback) is Perm.TEST_UTILITIES:
                        rule = Rule("404", "test utilities are not mounted in production")
                    else:
                        rule = staff_rule(endpoint, role)
                    problems += check(endpoint, role, rule, users[role])
        finally:
            clear_url_caches()
            importlib.reload(daylock.urls)
            clear_url_caches()
    assert not problems, "\n".join(problems)


def test_a_staff_view_without_a_permission_fails_the_walk(samples: Samples) -> None:
    """The walk's own guard: an undecorated view under staff/ has no rule."""
    bare = Endpoint(
        path="/staff/new/",
        route="staff/new/",
        name="new",
        callback=lambda r: None,
        model_admin=None,
    )
    with pytest.raises(AssertionError, match="declares no permission"):
        staff_rule(bare, "admin")
    with pytest.raises(AssertionError, match="no sample for the argument 'gizmo_id'"):
        samples.value("gizmo_id", None)
    assert admin_site.is_registered(User)
