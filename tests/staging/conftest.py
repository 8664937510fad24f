from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daylock.accounts.models import Role, User

#: A fixed anchor so seeded data does not depend on the day the tests run.
ANCHOR = datetime(2025, 3, 10, tzinfo=UTC)


@pytest.fixture
def staff() -> User:
    """The test utilities are admin-only (not moderators)."""
    return User.objects.create_user("staff-admin", role=Role.ADMIN)


@pytest.fixture
def player() -> User:
    return User.objects.create_user("just-a-player")
