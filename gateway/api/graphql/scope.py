"""What an operation would touch, read from its AST before anything executes (docs/PROTOCOL.md §5).

Every selection is followed — fields under aliases, inline fragments, named fragments — with the
GraphQL type it applies to, so a forbidden field cannot hide behind indirection. ``@skip`` and
``@include`` are ignored on purpose: a field that might run is counted, and over-refusing is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast,
)
from graphql.execution.values import get_variable_values

from gateway.api.graphql.engine import PreparedOperation, redact
from gateway.errors import BadRequest
from gateway.values.selector import Selector

__all__ = ["OperationScope", "analyse"]

SUBJECT_TYPE = "Subject"


@dataclass
class OperationScope:
    """Root fields selected, ``Subject`` fields selected anywhere, and each ``subject(by:)`` selector."""

    root_fields: set[str] = field(default_factory=set)
    type_fields: set[tuple[str, str]] = field(default_factory=set)
    subject_fields: set[str] = field(default_factory=set)
    selectors: list[Selector] = field(default_factory=list)
    touches_subjects: bool = False
    variables: dict[str, Any] = field(default_factory=dict)


def coerce_variables(schema: GraphQLSchema, prepared: PreparedOperation,
                     raw: Mapping[str, Any] | None, known_names: frozenset[str]) -> dict[str, Any]:
    """The operation's variables coerced to their declared types, or ``BAD_REQUEST``."""
    coerced = get_variable_values(schema, prepared.operation.variable_definitions or [], dict(raw or {}),
                                  max_errors=3, hide_suggestions=True)
    if isinstance(coerced, list):
        raise BadRequest("; ".join(redact(e.message, known_names) for e in coerced[:3]))
    return dict(coerced.coerced)


def analyse(schema: GraphQLSchema, prepared: PreparedOperation, variables: dict[str, Any]) -> OperationScope:
    scope = OperationScope(variables=variables)
    root = schema.get_root_type(prepared.operation.operation)
    if root is None:  # pragma: no cover - validation refuses operations the schema lacks
        raise BadRequest("the schema has no such operation type")

    def walk(selection_set: SelectionSetNode | None, parent: GraphQLObjectType, is_root: bool,
             seen: frozenset[str]) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__"):
                    continue
                if is_root:
                    scope.root_fields.add(name)
                scope.type_fields.add((parent.name, name))
                if parent.name == SUBJECT_TYPE:
                    scope.touches_subjects = True
                    scope.subject_fields.add(name)
                definition = parent.fields.get(name)
                if definition is None:  # pragma: no cover - validated
                    continue
                if is_root and name == "subject":
                    scope.touches_subjects = True
                    scope.selectors.append(_selector(selection, definition.args["by"].type, variables))
                child = get_named_type(definition.type)
                if isinstance(child, GraphQLObjectType):
                    walk(selection.selection_set, child, False, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    found = schema.get_type(selection.type_condition.name.value)
                    target = found if isinstance(found, GraphQLObjectType) else parent
                walk(selection.selection_set, target, is_root, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen:  # pragma: no cover - validation refuses cycles
                    continue
                fragment = prepared.fragments[name]
                found = schema.get_type(fragment.type_condition.name.value)
                target = found if isinstance(found, GraphQLObjectType) else parent
                walk(fragment.selection_set, target, is_root, seen | {name})

    walk(prepared.operation.selection_set, root, True, frozenset())
    return scope


def _selector(node: FieldNode, input_type: Any, variables: dict[str, Any]) -> Selector:
    argument = next((a for a in node.arguments or () if a.name.value == "by"), None)
    if argument is None:  # pragma: no cover - `by` is required
        raise BadRequest("subject needs a `by` selector")
    named = get_named_type(input_type)
    value = value_from_ast(argument.value, input_type, variables)
    if not isinstance(named, GraphQLInputObjectType) or not isinstance(value, dict):
        raise BadRequest("the subject selector is not a valid SubjectSelector")
    # value_from_ast keys input objects by their Python names (strawberry sets out_name).
    return Selector.of(value.get("id"), value.get("username"), value.get("phone_number", value.get("phoneNumber")))
