"""The staff outbox pages and ``daylock outbox list``."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

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


def test_django_staff_flag_alone_grants_nothing(client: Client) -> None:
    """The role table decides (daylock.accounts.permissions), not Django's is_staff."""
    client.force_login(User.objects.create_user(username="s", password="pw", is_staff=True))
    assert client.get("/staff/outbox/").status_code == 403


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


# --- uncertain messages: resend or discard ---------------------------------------------


def _uncertain(content: str = "You won!") -> OutboxMessage:
    """A message whose send may have reached Discord, past the nonce window."""
    message = outbox_enqueue(kind="channel_message", content=content, channel_id=CHANNEL)
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.UNCERTAIN,
        attempts=1,
        send_started_at=timezone.now() - timedelta(minutes=10),
        delivery_note="a send started … its outcome is unknown",
    )
    message.refresh_from_db()
    return message


def test_an_uncertain_message_is_shown_with_resend_and_discard(staff_client: Client) -> None:
    message = _uncertain()
    listing = staff_client.get("/staff/outbox/").content.decode()
    assert f'data-outbox-id="{message.pk}" data-status="uncertain"' in listing
    assert "resend or discard" in listing
    counts = staff_client.get("/staff/outbox/?status=uncertain").content.decode()
    assert f'data-outbox-id="{message.pk}"' in counts
    detail = staff_client.get(f"/staff/outbox/{message.pk}/").content.decode()
    assert "Delivery uncertain" in detail
    assert f'action="/staff/outbox/{message.pk}/resend/"' in detail
    assert f'action="/staff/outbox/{message.pk}/discard/"' in detail
    assert detail.count('name="csrfmiddlewaretoken"') >= 2
    assert message.nonce in detail
    assert "send in doubt since" in detail


def test_resend_queues_an_uncertain_message_again_and_is_audited(staff_client: Client) -> None:
    message = _uncertain()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    response = staff_client.post(f"/staff/outbox/{message.pk}/resend/", follow=True)
    assert response.status_code == 200
    assert f"Outbox message #{message.pk} queued again." in response.content.decode()
    started = message.send_started_at
    message.refresh_from_db()
    assert (message.status, message.attempts, message.send_started_at) == (
        OutboxStatus.QUEUED,
        0,
        None,
    )
    assert message.delivery_note == "resent by mod after an uncertain send"
    assert len(outbox_jobs(message.pk)) == 1
    log = AuditLog.objects.get(action="outbox.resend")
    assert (log.target, log.actor_label, log.environment) == (
        f"outbox:{message.pk}",
        "mod",
        "staging",
    )
    assert log.details["nonce"] == message.nonce  # the repeat keeps its nonce
    assert started is not None and log.details["send_started_at"] == started.isoformat()


def test_discard_settles_an_uncertain_message_for_good_and_is_audited(
    staff_client: Client,
) -> None:
    message = _uncertain()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    response = staff_client.post(f"/staff/outbox/{message.pk}/discard/", follow=True)
    assert f"Outbox message #{message.pk} discarded." in response.content.decode()
    message.refresh_from_db()
    assert message.status == OutboxStatus.DISCARDED
    assert message.delivery_note == "discarded by mod after an uncertain send"
    assert outbox_jobs(message.pk) == []
    assert delivery.deliver(message.pk).outcome == "skipped"  # never sent
    log = AuditLog.objects.get(action="outbox.discard")
    assert log.target == f"outbox:{message.pk}"
    assert log.details["target"] == f"channel:{CHANNEL}"


@pytest.mark.parametrize("action", ["resend", "discard"])
def test_uncertain_actions_are_for_staff_only(client: Client, action: str) -> None:
    message = _uncertain()
    url = f"/staff/outbox/{message.pk}/{action}/"
    anonymous = client.post(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/auth/login/?next=")
    client.force_login(User.objects.create_user(username="p", password="pw"))
    assert client.post(url).status_code == 403
    message.refresh_from_db()
    assert message.status == OutboxStatus.UNCERTAIN
    assert not AuditLog.objects.filter(action__startswith="outbox.").exists()


@pytest.mark.parametrize(("action", "verb"), [("resend", "resent"), ("discard", "discarded")])
def test_uncertain_actions_refuse_a_message_that_is_not_uncertain(
    staff_client: Client, action: str, verb: str
) -> None:
    queued = outbox_enqueue(kind="channel_message", content="hi", channel_id=CHANNEL)
    failed = _failed()
    captured = outbox_enqueue(kind="channel_message", content="c", channel_id=CHANNEL)
    delivery.deliver(captured.pk)
    for message in (queued, failed, captured):
        before = OutboxMessage.objects.get(pk=message.pk).status
        response = staff_client.post(f"/staff/outbox/{message.pk}/{action}/", follow=True)
        assert f"only uncertain messages can be {verb}" in response.content.decode()
        assert OutboxMessage.objects.get(pk=message.pk).status == before
    assert not AuditLog.objects.filter(action__startswith="outbox.").exists()
    assert staff_client.get(f"/staff/outbox/{queued.pk}/{action}/").status_code == 405
    assert staff_client.post(f"/staff/outbox/999999/{action}/").status_code == 404


@pytest.mark.parametrize("action", ["resend", "discard"])
def test_uncertain_actions_need_the_csrf_token(action: str) -> None:
    message = _uncertain()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_user(username="m2", password="pw", role=Role.MODERATOR))
    url = f"/staff/outbox/{message.pk}/{action}/"
    assert browser.post(url).status_code == 403
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.UNCERTAIN
    page = browser.get(f"/staff/outbox/{message.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    assert browser.post(url, {"csrfmiddlewaretoken": token[1]}).status_code == 302
    assert OutboxMessage.objects.get(pk=message.pk).status != OutboxStatus.UNCERTAIN


def test_outbox_list_command_shows_uncertain_messages() -> None:
    message = _uncertain("did it arrive?")
    out = io.StringIO()
    call_command("outbox", "list", "--status", "uncertain", stdout=out)
    assert out.getvalue().splitlines() == [
        f"{message.pk} uncertain channel_message channel:{CHANNEL} 1 did it arrive?"
    ]
