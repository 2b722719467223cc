"""Schema fuzzing (issue 7): schemathesis-generated operations, each signed over its exact body by
one kind of caller, against the live app. Beyond schemathesis's own checks every response must
be free of 5xx and plaintext, carry a §6 code and status on refusal, name the one audit entry it
appended, and seal nothing outside the caller's order (see tests/support/fuzz.py).

``GATEWAY_FUZZ_EXAMPLES`` sets the cases per caller kind (CI: 1000), ``GATEWAY_FUZZ_SEED`` the
seed; ``scripts/fuzz`` runs the long campaign."""

from __future__ import annotations

import pytest

from tests.support.fuzz import CallerKind, Fuzzer, budget, fuzz_seed, timed, write_summary
from tests.support.world import World


@pytest.mark.fuzz
@pytest.mark.parametrize("kind", list(CallerKind), ids=str)
def test_generated_operations_keep_the_protocol(fuzz_world: World, kind: CallerKind) -> None:
    fuzzer = Fuzzer(fuzz_world, kind)
    seed = fuzz_seed()
    error: str | None = None
    with timed() as elapsed:
        try:
            stats = fuzzer.run(max_examples=budget(), seed=seed)
        except AssertionError as exc:
            error = str(exc).splitlines()[0]
            raise
        finally:
            write_summary(fuzzer.summary(seed=seed, seconds=elapsed(), error=error))
    assert stats.cases >= budget(), "Hypothesis ran fewer cases than the budget"
    if kind in (CallerKind.AUTHORITY_WITH_ORDER, CallerKind.AUTHORITY_OUTSIDE_ORDER):
        assert stats.sealed_opened > 0, "no generated request reached a resolver that seals"
        assert stats.twins > 0, "no generated request named a subject outside the order"
