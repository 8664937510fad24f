from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.events.conftest import move_clock


@pytest.fixture
def set_clock() -> Callable[..., None]:
    return move_clock
