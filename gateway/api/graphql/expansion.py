"""How big an operation becomes once its fragments are expanded, measured before anything else
looks at it (docs/PROTOCOL.md §5, §6 ``QUERY_TOO_COMPLEX``).

A fragment that spreads the previous one twice doubles the document's expanded size with every
level: 850 bytes can stand for 2^30 selections, and every later step that walks the operation
(validation, the scope check) would pay for all of them. So the expansion is measured first, over
the raw AST, with each fragment's size computed once (memoised): the work is linear in the
document's length, however large the expansion it describes. Every selection counts — a field,
an inline fragment and a fragment spread alike — so fragments that select nothing still cost
something, and empty selection sets, which the GraphQL grammar forbids
(https://spec.graphql.org/October2021/#SelectionSet: ``{ Selection+ }``) but graphql-core's parser
accepts, are refused outright.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from gateway.errors import GraphQLParseFailed, QueryTooComplex

__all__ = ["Expansion", "measure_expansion"]


@dataclass(frozen=True)
class Expansion:
    """``size``: selections of the largest operation once expanded (capped just past the limit);
    ``steps``: selection nodes the measurement visited, at most the number in the document."""

    size: int
    steps: int


def measure_expansion(document: DocumentNode, *, limit: int) -> Expansion:
    """Measure ``document``; raise ``QUERY_TOO_COMPLEX`` when an operation expands to more than
    ``limit`` selections, else ``GRAPHQL_PARSE_FAILED`` for an empty selection set.

    Unknown fragments and fragment cycles count one selection each: validation, which runs next,
    refuses them with its own message."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, int] = {}
    in_progress: set[str] = set()
    steps = 0
    empty = False
    cap = limit + 1

    def size_of(selection_set: SelectionSetNode) -> int:
        nonlocal steps, empty
        empty = empty or not selection_set.selections
        total = 0
        for selection in selection_set.selections:
            steps += 1
            total += 1
            nested = selection.selection_set if isinstance(selection, FieldNode | InlineFragmentNode) else None
            if nested is not None:
                total += size_of(nested)
            elif isinstance(selection, FragmentSpreadNode):
                total += fragment_size(selection.name.value)
            # Saturate: past the limit the exact figure does not matter, and it stays a small int.
            total = min(total, cap)
        return total

    def fragment_size(name: str) -> int:
        if name in memo:
            return memo[name]
        fragment = fragments.get(name)
        if fragment is None or name in in_progress:
            return 0
        in_progress.add(name)
        memo[name] = size_of(fragment.selection_set)
        in_progress.discard(name)
        return memo[name]

    largest = 0
    for definition in _definitions(document):
        if isinstance(definition, OperationDefinitionNode):
            largest = max(largest, size_of(definition.selection_set))
        else:
            fragment_size(definition.name.value)  # an unused fragment must be well-formed too
    if largest > limit:
        raise QueryTooComplex(f"the query selects more than {limit} fields, fragments and spreads once its "
                              "fragments are expanded")
    if empty:
        raise GraphQLParseFailed("the query does not parse: a selection set must select at least one field")
    return Expansion(size=largest, steps=steps)


def _definitions(document: DocumentNode) -> Iterable[OperationDefinitionNode | FragmentDefinitionNode]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            yield definition
