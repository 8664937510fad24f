"""The role table itself (``daylock.accounts.permissions``): who holds what, the
environment gate on the test utilities, the view decorator, the Django permissions the
admin asks, and what a Discord admin may not do to operators' accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from daylock.accounts import permissions
from daylock.accounts.models import Role, User
from daylock.accounts.permissions import (
    ADMIN_MODELS,
    ROLE_PERMISSIONS,
    Perm,
    RolePermissionBackend,
    has_perm,
    permission_required,
    perms_of,
)
from daylock.core.models import AuditLog
from tests.config_override import production
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_roles_hold_what_the_table_says() -> None:
    admin = UserFactory(role=Role.ADMIN)
    moderator = UserFactory(role=Role.MODERATOR)
    player = UserFactory()
    assert perms_of(admin) == ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Perm)
    assert perms_of(moderator) == ROLE_PERMISSIONS[Role.MODERATOR]
    assert perms_of(player) == frozenset()
    assert has_perm(moderator, Perm.READ_AUDIT) and has_perm(moderator, Perm.HANDLE_REROLLS)
    for perm in (Perm.AUTHOR, Perm.RUN_DRAWS, Perm.TEST_UTILITIES, Perm.MANAGE_USERS):
        assert not has_perm(moderator, perm), perm
    # Admins hold every moderator permission too.
    assert ROLE_PERMISSIONS[Role.MODERATOR] < ROLE_PERMISSIONS[Role.ADMIN]
    assert set(permissions.PERM_DESCRIPTIONS) == set(Perm)


def test_superusers_are_admins_and_banned_or_disabled_accounts_hold_nothing() -> None:
    operator = User.objects.create_superuser("root", password="x")
    assert permissions.role_of(operator) == Role.ADMIN
    assert perms_of(operator) == ROLE_PERMISSIONS[Role.ADMIN]
    assert perms_of(UserFactory(role=Role.ADMIN, is_banned=True)) == frozenset()
    assert perms_of(UserFactory(role=Role.ADMIN, is_active=False)) == frozenset()
    assert perms_of(AnonymousUser()) == frozenset()
    # Django's staff flag alone is no role.
    assert perms_of(UserFactory(is_staff=True)) == frozenset()
    assert perms_of(UserFactory(role=Role.MODERATOR))


def test_the_test_utilities_also_need_the_environment() -> None:
    admin = UserFactory(role=Role.ADMIN)
    operator = User.objects.create_superuser("root", password="x")
    assert has_perm(admin, Perm.TEST_UTILITIES)
    with production():
        assert not has_perm(admin, Perm.TEST_UTILITIES)
        assert not has_perm(operator, Perm.TEST_UTILITIES)
        assert has_perm(admin, Perm.AUTHOR)  # the rest of the table holds in production
        message = permissions.refusal_message(admin, Perm.TEST_UTILITIES)
        assert "production environment does not have them" in message
        assert "Use staging" in message


def _view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("done")


def _request(user: Any) -> HttpRequest:
    request = RequestFactory().get("/staff/thing/?x=1")
    request.user = user
    return request


def test_the_decorator_sends_visitors_to_login_and_refuses_with_what_to_do() -> None:
    view = permission_required(Perm.RUN_DRAWS)(_view)
    assert permissions.required_permission(view) is Perm.RUN_DRAWS
    assert permissions.required_permission(_view) is None
    anonymous = view(_request(AnonymousUser()))
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/auth/login/?next=/staff/thing/%3Fx%3D1"
    with pytest.raises(PermissionDenied) as refused:
        view(_request(UserFactory(role=Role.MODERATOR)))
    message = str(refused.value)
    assert "close a prize's entries and run its draw" in message
    assert "you need the admin role; your account has moderator" in message
    assert "Ask an admin of the Discord server for the role" in message
    assert view(_request(UserFactory(role=Role.ADMIN))).content == b"done"


def test_the_403_page_shows_the_refusal() -> None:
    client = Client()
    client.force_login(UserFactory(role=Role.MODERATOR))
    page = client.get("/staff/testtools/")
    assert page.status_code == 403
    text = page.content.decode()
    assert "To use the test utilities (never in production) you need the admin role" in text
    assert 'class="env-banner"' in text


def test_django_permissions_come_from_the_table() -> None:
    backend = RolePermissionBackend()
    admin = UserFactory(role=Role.ADMIN)
    moderator = UserFactory(role=Role.MODERATOR)
    assert {
        "events.add_event",
        "events.change_event",
        "events.delete_event",
        "prizes.change_prizecode",
        "events.view_feedback",
    } <= backend.get_all_permissions(admin)
    assert "events.change_feedback" not in backend.get_all_permissions(admin)
    assert "accounts.add_user" not in backend.get_all_permissions(admin)
    assert backend.get_all_permissions(moderator) == {
        "events.view_feedback",
        "prizes.view_draw",
        "prizes.view_drawwinner",
        "discord.view_outboxmessage",
    }
    assert backend.get_all_permissions(UserFactory()) == set()
    assert backend.get_all_permissions(UserFactory(role=Role.ADMIN, is_banned=True)) == set()
    # Through Django's own API, which the admin uses:
    assert admin.has_perm("events.change_event") and not moderator.has_perm("events.change_event")
    assert moderator.has_module_perms("discord") and not moderator.has_module_perms("accounts")
    assert backend.authenticate(None, username="x", password="y") is None
    for label in ADMIN_MODELS:
        assert label.count(".") == 1, label


def test_a_moderator_reads_feedback_in_the_admin_but_cannot_author() -> None:
    client = Client()
    client.force_login(UserFactory(role=Role.MODERATOR))
    index = client.get("/admin/").content.decode()
    assert "/admin/events/feedback/" in index
    assert "/admin/events/event/" not in index
    event = EventFactory(days=False)
    assert client.get("/admin/events/feedback/").status_code == 200
    assert client.get(f"/admin/events/event/{event.pk}/change/").status_code == 403
    assert client.get("/admin/events/event/add/").status_code == 403


def test_a_discord_admin_cannot_make_themselves_an_operator() -> None:
    operator = User.objects.create_superuser("root", password="x")
    ada = UserFactory(username="ada", role=Role.ADMIN)
    pat = UserFactory(username="pat")
    pat.set_password("a-password")
    pat.save()
    client = Client()
    client.force_login(ada)
    # An operator's account is read-only to them, and passwords are for operators.
    assert client.get(f"/admin/accounts/user/{operator.pk}/change/").status_code == 200
    refused = client.post(f"/admin/accounts/user/{operator.pk}/change/", {"is_banned": "on"})
    assert refused.status_code == 403
    password = client.get(f"/admin/accounts/user/{pat.pk}/password/")
    assert password.status_code == 403
    assert "Only an operator (a superuser) may set a password" in password.content.decode()
    form = client.get(f"/admin/accounts/user/{pat.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in form and 'name="user_permissions"' not in form
    assert "pbkdf2" not in form and 'name="role"' in form
    # Banning: players yes, operators no (skipped with a message).
    response = client.post(
        "/admin/accounts/user/",
        {"action": "ban_users", "_selected_action": [pat.pk, operator.pk]},
        follow=True,
    )
    assert "Skipped 1 operator account(s)" in response.content.decode()
    pat.refresh_from_db()
    operator.refresh_from_db()
    assert pat.is_banned and not operator.is_banned
    assert AuditLog.objects.filter(action="accounts.ban").count() == 1
    # Adding or deleting users is not in the table: users come from Discord.
    assert client.get("/admin/accounts/user/add/").status_code == 403
    assert client.get(f"/admin/accounts/user/{pat.pk}/delete/").status_code == 403


def test_players_get_a_403_in_the_admin_that_says_what_to_do() -> None:
    client = Client()
    client.force_login(UserFactory())
    page = client.get("/admin/")
    assert page.status_code == 403
    assert "Your account has player role" in page.content.decode()
    assert Client().get("/admin/")["Location"].startswith("/admin/login/")
    login = Client().get("/admin/login/").content.decode()
    assert "log in with Discord" in login


def test_the_readme_shows_the_same_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0].strip("`") in set(Perm):
            perm = Perm(cells[0].strip("`"))
            rows[perm] = (
                cells[1],
                {
                    role
                    for role, cell in zip(("admin", "moderator", "player"), cells[2:], strict=True)
                    if cell == "✓"
                },
            )
    assert set(rows) == set(Perm), "every permission has its README row"
    for perm, (allows, roles) in rows.items():
        assert allows == permissions.PERM_DESCRIPTIONS[perm], perm
        assert roles == {role.value for role, held in ROLE_PERMISSIONS.items() if perm in held}, (
            perm
        )
