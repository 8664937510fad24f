from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daylock.staging.parsing import format_offset, parse_duration, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d2h", timedelta(days=1, hours=2)),
        ("90m", timedelta(minutes=90)),
        ("-3d", timedelta(days=-3)),
        ("1w", timedelta(weeks=1)),
        ("2h30m15s", timedelta(hours=2, minutes=30, seconds=15)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1x", "d", "1d 2", "tomorrow", "1.5d"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration; use e\.g\. 1d2h"):
        parse_duration(text)


def test_instants_default_to_utc_and_keep_offsets() -> None:
    assert parse_instant("2025-12-03T00:00") == datetime(2025, 12, 3, tzinfo=UTC)
    assert parse_instant("2025-12-03T00:00:00Z") == datetime(2025, 12, 3, tzinfo=UTC)
    assert parse_instant("2025-12-03T01:00+01:00") == datetime(2025, 12, 3, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 date-time"):
        parse_instant("next tuesday")


def test_offsets_are_readable() -> None:
    assert format_offset(timedelta(days=1, hours=2)) == "+1d2h"
    assert format_offset(-timedelta(minutes=5)) == "-5m"
    assert format_offset(timedelta(0)) == "+0s"


def test_progress_bar_draws_only_on_a_terminal() -> None:
    import io

    from daylock.staging.progressbar import ProgressBar

    quiet = io.StringIO()
    bar = ProgressBar(10, stream=quiet)
    bar.stage("users")
    bar.advance(5)
    bar.finish()
    assert quiet.getvalue() == ""
    assert [label for label, _ in bar.timings] == ["users"]

    shown = io.StringIO()
    bar = ProgressBar(10, stream=shown, force=True)
    bar.stage("users")
    bar.advance(10)
    bar.finish()
    assert "\r[" in shown.getvalue()
    assert "100% " in shown.getvalue()
    assert shown.getvalue().endswith("\n")
