"""The dashboard's checks of its query parameters: a window is hour, day or week; a pinned end carries its offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signoff.errors import InvalidInput
from signoff.web.dashboard import end_or_error, window_or_error


@pytest.mark.parametrize("window", ["hour", "day", "week"])
def test_the_three_windows_pass(window: str) -> None:
    assert window_or_error(window) == window


@pytest.mark.parametrize("window", ["month", "", "Day", "day "])
def test_any_other_window_is_refused(window: str) -> None:
    with pytest.raises(InvalidInput, match="must be one of hour, day, week"):
        window_or_error(window)


def test_a_pinned_end_needs_its_utc_offset() -> None:
    assert end_or_error(None) is None
    assert end_or_error("2026-11-29T05:50:57.123456+00:00") == datetime(2026, 11, 29, 5, 50, 57, 123456, UTC)
    for wrong in ("2026-11-29T05:50:57", "yesterday", "x" * 5000):
        with pytest.raises(InvalidInput, match="UTC offset"):
            end_or_error(wrong)
