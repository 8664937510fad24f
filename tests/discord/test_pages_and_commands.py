"""The staff outbox pages and ``daylock outbox list``."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from daylock.accounts.models import Role, User
from daylock.core.models import AuditLog
from daylock.discord import delivery
from daylock.discord.models import OutboxMessage, OutboxStatus
from daylock.discord.services import outbox_enqueue
from tests.config_override import production
from tests.discord.helpers import outbox_jobs

pytestmark = pytest.mark.django_db

CHANNEL = "710000000000000001"
USER = "720000000000000001"
SECRET_TEXT = "The prize code is ABCD-1234, long text that is not in the preview " + "x" * 80


def _failed() -> OutboxMessage:
    message = outbox_enqueue(kind="channel_message", content="boom", channel_id=CHANNEL)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.FAILED, attempts=5, last_error="HTTP 403 code 50001: Missing Access"
    )
    message.refresh_from_db()
    return message


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = User.objects.create_user(username="mod", password="pw", role=Role.MODERATOR)
    client.force_login(user)
    return client


def test_anonymous_is_sent_to_login_and_players_are_forbidden(client: Client) -> None:
    message = outbox_enqueue(kind="direct_message", content=SECRET_TEXT, recipient_id=USER)
    for url in ("/staff/outbox/", f"/staff/outbox/{message.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/auth/login/?next=")
    player = User.objects.create_user(username="p", password="pw")
    client.force_login(player)
    for url in ("/staff/outbox/", f"/staff/outbox/{message.pk}/"):
        response = client.get(url)
        assert response.status_code == 403
        assert SECRET_TEXT.encode() not in response.content
    assert client.post(f"/staff/outbox/{message.pk}/retry/").status_code == 403


def test_django_staff_flag_also_grants_access(client: Client) -> None:
    client.force_login(User.objects.create_user(username="s", password="pw", is_staff=True))
    assert client.get("/staff/outbox/").status_code == 200


def test_list_shows_every_message_with_status_attempts_and_error(staff_client: Client) -> None:
    captured = outbox_enqueue(kind="direct_message", content=SECRET_TEXT, recipient_id=USER)
    delivery.deliver(captured.pk)
    failed = _failed()
    queued = outbox_enqueue(kind="role_grant", recipient_id=USER, role_id="730000000000000001")
    body = staff_client.get("/staff/outbox/").content.decode()
    for m in (captured, failed, queued):
        assert f'data-outbox-id="{m.pk}"' in body
    assert 'data-status="captured"' in body
    assert "Missing Access" in body
    assert f"user:{USER}" in body
    assert "grant role 730000000000000001" in body
    filtered = staff_client.get("/staff/outbox/?status=failed").content.decode()
    assert f'data-outbox-id="{failed.pk}"' in filtered
    assert f'data-outbox-id="{captured.pk}"' not in filtered


def test_detail_shows_full_content_outside_production_only(staff_client: Client) -> None:
    message = outbox_enqueue(kind="direct_message", content=SECRET_TEXT, recipient_id=USER)
    delivery.deliver(message.pk)
    body = staff_client.get(f"/staff/outbox/{message.pk}/").content.decode()
    assert SECRET_TEXT in body
    assert "delivery mode is capture" in body
    with production():
        body = staff_client.get(f"/staff/outbox/{message.pk}/").content.decode()
    assert SECRET_TEXT not in body
    assert "not shown in this environment" in body
    assert staff_client.get("/staff/outbox/999999/").status_code == 404


def test_retry_requeues_a_failed_message_and_is_audited(staff_client: Client) -> None:
    message = _failed()
    from django.db import connection

    with connection.cursor() as cursor:  # its job finished (and was deleted) long ago
        cursor.execute("DELETE FROM procrastinate_jobs")
    response = staff_client.post(f"/staff/outbox/{message.pk}/retry/", follow=True)
    assert response.status_code == 200
    assert "queued again" in response.content.decode()
    message.refresh_from_db()
    assert message.status == OutboxStatus.QUEUED
    assert message.attempts == 0
    assert "retried by mod after 5 attempts" in message.delivery_note
    assert len(outbox_jobs(message.pk)) == 1
    log = AuditLog.objects.get(action="outbox.retry")
    assert log.target == f"outbox:{message.pk}"
    assert log.actor_label == "mod"
    assert log.environment == "staging"
    assert log.details["last_error"] == "HTTP 403 code 50001: Missing Access"


def test_retry_refuses_a_message_that_did_not_fail(staff_client: Client) -> None:
    message = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
    delivery.deliver(message.pk)
    response = staff_client.post(f"/staff/outbox/{message.pk}/retry/", follow=True)
    assert "only failed messages can be retried" in response.content.decode()
    message.refresh_from_db()
    assert message.status == OutboxStatus.CAPTURED
    assert not AuditLog.objects.filter(action="outbox.retry").exists()
    assert staff_client.get(f"/staff/outbox/{message.pk}/retry/").status_code == 405


def test_outbox_list_command_prints_one_line_per_message_starting_with_its_id() -> None:
    first = outbox_enqueue(kind="channel_message", content="line one\nline two", channel_id=CHANNEL)
    second = outbox_enqueue(kind="direct_message", content="You won", recipient_id=USER)
    delivery.deliver(second.pk)
    out = io.StringIO()
    call_command("outbox", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{second.pk} captured direct_message user:{USER} 0 You won",
        f"{first.pk} queued channel_message channel:{CHANNEL} 0 line one line two",
    ]
    out = io.StringIO()
    call_command("outbox", "list", "--status", "queued", stdout=out)
    assert out.getvalue().splitlines() == [lines[1]]


def test_outbox_list_command_rejects_an_unknown_status() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'lost'"):
        call_command("outbox", "list", "--status", "lost")
