from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from daylock.accounts.models import Role, User
from daylock.config import DeliveryMode, Environment

#: A fixed anchor so seeded data does not depend on the day the tests run.
ANCHOR = datetime(2025, 3, 10, tzinfo=UTC)


@contextmanager
def production() -> Iterator[None]:
    """Run as production in-process (everything reads ``config.current()`` at call time)."""
    with override_settings(
        DAYLOCK=dataclasses.replace(
            settings.DAYLOCK, app_env=Environment.PRODUCTION, discord_delivery=DeliveryMode.LIVE
        )
    ):
        yield


@pytest.fixture
def staff() -> User:
    return User.objects.create_user("staff-mod", role=Role.MODERATOR)


@pytest.fixture
def player() -> User:
    return User.objects.create_user("just-a-player")
