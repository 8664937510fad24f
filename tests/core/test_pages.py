from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_home_shows_the_staging_banner(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="env-banner"' in body
    assert "STAGING" in body


@pytest.mark.django_db
def test_healthz_reports_environment_and_stamps_without_secrets(client: Client) -> None:
    import redis
    from django.conf import settings

    from daylock.testing.pytest_plugin import redis_url

    redis.Redis.from_url(redis_url(0)).flushdb()  # as if no process had started yet
    response = client.get("/healthz")
    assert response.status_code == 503  # Redis not stamped yet: not healthy
    data = response.json()
    assert data["environment"] == "staging"
    assert data["is_production"] is False
    assert data["database"] == {"reachable": True, "stamped": True, "stamp_matches": True}
    # Redis was emptied at session start; the first process to use it stamps it.
    from daylock.guardrails import check_redis_stamp

    check_redis_stamp(settings.DAYLOCK)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["redis"] == {
        "configured": True,
        "reachable": True,
        "stamped": True,
        "stamp_matches": True,
    }
    text = response.content.decode()
    for secret in (settings.SECRET_KEY, settings.DAYLOCK.discord_client_secret, "postgres://"):
        assert secret not in text


def test_system_check_reports_a_configuration_guard() -> None:
    import dataclasses

    from django.conf import settings
    from django.core.checks import run_checks
    from django.test import override_settings

    from daylock.config import DeliveryMode

    assert [m for m in run_checks(tags=["daylock"]) if m.id == "daylock.E001"] == []
    live = dataclasses.replace(settings.DAYLOCK, discord_delivery=DeliveryMode.LIVE)
    with override_settings(DAYLOCK=live):
        messages = run_checks(tags=["daylock"])
    assert [m.id for m in messages] == ["daylock.E001"]
    assert "DISCORD_DELIVERY=live" in messages[0].msg
    assert messages[0].hint


@pytest.mark.django_db(transaction=True)
def test_flush_keeps_the_environment_stamp() -> None:
    """Transactional tests (and `daylock flush`) truncate every managed table."""
    from django.core.management import call_command

    from daylock.stamps import read_database_stamp

    call_command("flush", "--no-input", verbosity=0)
    stamp, _ = read_database_stamp()
    assert stamp is not None
    assert stamp.environment == "staging"


@pytest.mark.django_db
def test_error_pages_carry_the_environment_banner(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'class="env-banner"' in body
    assert "STAGING" in body
    assert "/no/such/page/" in body
