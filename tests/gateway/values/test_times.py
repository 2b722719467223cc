"""Audit times (docs/PROTOCOL.md §7): the ``time_us`` column `audit verify` derives is the epoch
microseconds of the entry's own time, as `audit show --since` computes them for its filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.values.times import epoch_micros, parse_rfc3339_us, rfc3339_us, rfc3339_us_micros


@pytest.mark.parametrize("moment", [datetime(1970, 1, 1, tzinfo=UTC),
                                    datetime(2026, 12, 2, 7, 30, 0, 123456, tzinfo=UTC),
                                    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                                    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)])
def test_micros_in_one_step_equal_the_parsed_time_s(moment: datetime) -> None:
    text = rfc3339_us(moment)
    assert rfc3339_us_micros(text) == epoch_micros(parse_rfc3339_us(text)) == epoch_micros(moment)


@pytest.mark.parametrize(("text", "reason"), [
    ("2026-12-02T07:30:00Z", "YYYY"), ("2026-12-02T07:30:00.123456+00:00", "YYYY"),
    (" 2026-12-02T07:30:00.000000Z", "YYYY"), (1764660600, "YYYY"), ("2026-13-02T07:30:00.000000Z", "month")])
def test_both_refuse_every_other_form(text: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rfc3339_us(text)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=reason):
        rfc3339_us_micros(text)  # type: ignore[arg-type]
