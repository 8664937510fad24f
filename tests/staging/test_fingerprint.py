"""The reset template is rebuilt whenever code that shapes the seeded data changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daylock.staging import reset
from daylock.staging.seed import SeedOptions

ANCHOR = datetime(2026, 12, 1, tzinfo=UTC)
SHAPERS = (
    "daylock.staging.seed",
    "daylock.staging.seed_prizes",
    "daylock.seeded_accounts",  # the roster's identities
    "daylock.staging.bulk",
    "daylock.prizes.services",  # draw close and run
    "daylock.prizes.draw",
    "daylock.events.services",  # completions
    "daylock.events.timelock",
    "daylock.accounts.models",
)


def test_the_seeds_import_closure_holds_the_services_it_calls() -> None:
    modules = reset.seed_modules()
    for name in SHAPERS:
        assert name in modules, name
    assert "daylock.events.views" not in modules  # pages do not shape seeded data


@pytest.mark.parametrize("module", SHAPERS)
def test_a_change_in_any_module_that_shapes_the_seed_rebuilds_the_template(
    monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    before = reset.fingerprint(SeedOptions(), anchor=ANCHOR)
    target = reset.seed_modules()[module]
    original = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = original(path)
        return data + b"\n# edited\n" if path == target else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert reset.fingerprint(SeedOptions(), anchor=ANCHOR) != before


def test_the_fingerprint_is_stable_and_follows_options_and_day() -> None:
    first = reset.fingerprint(SeedOptions(), anchor=ANCHOR)
    assert reset.fingerprint(SeedOptions(), anchor=ANCHOR) == first
    assert reset.fingerprint(SeedOptions(users=7), anchor=ANCHOR) != first
    assert reset.fingerprint(SeedOptions(), anchor=ANCHOR.replace(day=2)) != first
