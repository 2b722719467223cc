"""The fuzz checks can fail: with the scope check switched off, the fuzzer of an authority whose
order does not cover the generated subjects reports it, every time (explicit examples make the
first cases deterministic; generated ones follow on a fixed seed)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import Phase

from gateway.orders.disclosure import Disclosure, seal_field
from gateway.subjects.source import SubjectSource
from gateway.values.fields import SUBJECT_FIELDS
from tests.support.fuzz import CallerKind, Fuzzer, FuzzFailure
from tests.support.world import World

SMALL = 25
PHASES = (Phase.explicit, Phase.generate)


def allow_every_scope(*_: object, **__: object) -> None:
    """gateway.orders.policy.check_scope with its checks removed."""


@pytest.mark.fuzz
def test_the_same_small_run_passes_with_the_scope_check_in_place(fuzz_world: World) -> None:
    stats = Fuzzer(fuzz_world, CallerKind.AUTHORITY_OUTSIDE_ORDER).run(max_examples=SMALL, seed=7, phases=PHASES)
    assert stats.sealed_opened > 0 and stats.twins > 0


@pytest.mark.fuzz
def test_a_scope_check_that_allows_everything_is_caught(fuzz_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolvers' own lock (gateway.orders.disclosure.seal_field) still refuses to seal outside the
    # order, so what leaks is whether a subject exists: caught by the served-subject and oracle checks.
    monkeypatch.setattr("gateway.api.graphql.access.check_scope", allow_every_scope)
    fuzzer = Fuzzer(fuzz_world, CallerKind.AUTHORITY_OUTSIDE_ORDER)
    with pytest.raises(FuzzFailure, match="outside the order"):
        fuzzer.run(max_examples=SMALL, seed=7, phases=PHASES)


@pytest.mark.fuzz
def test_sealing_outside_the_order_is_caught_by_opening_the_sealed_values(
        fuzz_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both locks off: the scope check allows everything and the sealing step sees an order that
    # lists every subject and field, so the gateway seals values outside the real order.
    everyone = frozenset(s["id"] for s in fuzz_world.subjects)

    def seal_anything(request: Disclosure, source: SubjectSource, subject_id: str, field: str) -> object:
        widened = dataclasses.replace(request.order, subjects=everyone, fields=frozenset(SUBJECT_FIELDS))
        return seal_field(dataclasses.replace(request, order=widened), source, subject_id, field)

    monkeypatch.setattr("gateway.api.graphql.access.check_scope", allow_every_scope)
    monkeypatch.setattr("gateway.api.graphql.context.seal_field", seal_anything)
    fuzzer = Fuzzer(fuzz_world, CallerKind.AUTHORITY_OUTSIDE_ORDER, keep_going=True)
    with pytest.raises(FuzzFailure) as failure:
        fuzzer.run(max_examples=SMALL, seed=7, phases=PHASES)
    report = str(failure.value)
    assert "sealed a value of a subject outside the order" in report
    assert "sealed a field outside the order" in report or "the entry records fields outside the order" in report
    assert fuzzer.stats.sealed_opened > 0
