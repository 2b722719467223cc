"""Back-off from ``now``: base, doubling, capped, a bounded number of attempts; Retry-After honoured."""

from __future__ import annotations

import pytest

from gateway.notifications.schedule import RetryPolicy

NOW = 1_800_000_000


def test_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base=5, cap=60, max_attempts=10, jitter=0)
    assert [policy.delay("msg_a", n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.next_attempt("msg_a", 1, now=NOW) == NOW + 5
    assert policy.next_attempt("msg_a", 3, now=NOW) == NOW + 20


def test_after_the_last_attempt_there_is_none() -> None:
    policy = RetryPolicy(base=5, cap=60, max_attempts=3, jitter=0)
    assert policy.next_attempt("msg_a", 2, now=NOW) == NOW + 10
    assert policy.next_attempt("msg_a", 3, now=NOW) is None


def test_jitter_is_fixed_per_event_and_bounded() -> None:
    policy = RetryPolicy(base=100, cap=10_000, jitter=0.1)
    waits = {policy.delay(f"msg_{n}", 1) for n in range(50)}
    assert all(100 <= w <= 110 for w in waits) and len(waits) > 10
    assert policy.delay("msg_7", 2) == policy.delay("msg_7", 2)


def test_retry_after_asks_for_longer_but_never_past_the_cap() -> None:
    policy = RetryPolicy(base=5, cap=600, jitter=0)
    assert policy.next_attempt("msg_a", 1, now=NOW, retry_after=120) == NOW + 120
    assert policy.next_attempt("msg_a", 1, now=NOW, retry_after=1) == NOW + 5
    assert policy.next_attempt("msg_a", 1, now=NOW, retry_after=10**9) == NOW + 600


def test_the_default_schedule_spans_about_a_day() -> None:
    policy = RetryPolicy()
    total = sum(policy.delay("msg_a", n) for n in range(1, policy.max_attempts))
    assert 12 * 3600 < total < 48 * 3600


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy().delay("msg_a", 0)
