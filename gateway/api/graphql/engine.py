"""Running one GraphQL operation, every refusal before any resolver runs.

strawberry defines the schema; this module drives graphql-core directly so that the pipeline is
explicit: parse (token-capped, cached) → expanded size (:mod:`gateway.api.graphql.expansion`, linear work, before
anything walks the operation) → validate (cached, no suggestions) → depth and aliases → the
caller's scope check → execute. Any error in any step refuses the
whole request: a request discloses all it asked for or nothing (docs/PROTOCOL.md §5).
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    get_operation_ast,
    parse,
    print_ast,
    validate,
)
from graphql.language import Visitor, visit
from graphql.language.ast import (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    NullValueNode,
    StringValueNode,
)

from gateway.api.graphql.expansion import measure_expansion
from gateway.errors import (
    BadRequest,
    GatewayError,
    GraphQLParseFailed,
    GraphQLValidationFailed,
    InternalError,
    QueryTooComplex,
)

__all__ = ["MAX_EXPANDED_SELECTIONS", "GraphQLEngine", "PreparedOperation", "redact"]

log = logging.getLogger("gateway.api")

_QUOTED = re.compile(r"(['\"])(.*?)\1")
_DIGITS = re.compile(r"\d{5,}")
# graphql-core prints a value it cannot coerce after these words, unquoted when it was a bare
# literal (`username: alice`); everything from there to the end of the message is the client's.
_ECHOED_VALUE = re.compile(r"(\bvalue:|\bfound:?|\bgot invalid value)\s.*", re.DOTALL)
MAX_EXPANDED_SELECTIONS = 2000
_PARSER_LIMIT = "Parsing aborted."


def redact(message: str, known_names: frozenset[str]) -> str:
    """``message`` without anything the client wrote: quoted text that is not a schema name, and
    long digit runs, are replaced, since a selector value or an alias may be subject data."""

    def keep_known(match: re.Match[str]) -> str:
        inner = match.group(2)
        names = re.findall(r"[_A-Za-z][_0-9A-Za-z]*", inner)
        if names and all(n in known_names for n in names) and re.fullmatch(r"[\[\]!_0-9A-Za-z.$ ]*", inner):
            return match.group(0)
        return f"{match.group(1)}…{match.group(1)}"

    return _DIGITS.sub("…", _ECHOED_VALUE.sub(r"\1 …", _QUOTED.sub(keep_known, message)))


@dataclass(frozen=True)
class PreparedOperation:
    """A parsed, validated operation within the complexity limits."""

    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]
    shape_sha256: str

    @property
    def kind(self) -> str:
        return self.operation.operation.value


class _StripLiterals(Visitor):
    """Replaces every literal argument value, so the operation's hash says which operation ran
    without hashing a selector value (a phone number's unkeyed hash is enumerable)."""

    def _placeholder(self, *_: Any) -> StringValueNode:
        return StringValueNode(value="?")

    enter_string_value = _placeholder
    enter_int_value = _placeholder
    enter_float_value = _placeholder
    enter_boolean_value = _placeholder
    enter_enum_value = _placeholder
    enter_null_value = _placeholder


_LITERALS = (StringValueNode, IntValueNode, FloatValueNode, BooleanValueNode, EnumValueNode, NullValueNode)


def shape_sha256(document: DocumentNode) -> str:
    """SHA-256 of the operation printed with every literal value replaced by a placeholder."""
    stripped = visit(document, _StripLiterals())
    return hashlib.sha256(print_ast(stripped).encode("utf-8")).hexdigest()


class GraphQLEngine:
    def __init__(self, schema: GraphQLSchema, *, max_tokens: int, max_depth: int, max_aliases: int) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        names: set[str] = set()
        for type_name, graphql_type in schema.type_map.items():
            names.add(type_name)
            names.update(getattr(graphql_type, "fields", {}) or {})
            for fld in (getattr(graphql_type, "fields", {}) or {}).values():
                names.update(getattr(fld, "args", {}) or {})
        self.known_names = frozenset(names)
        self._prepare_cached = lru_cache(maxsize=512)(self._prepare_uncached)

    def prepare(self, query: str, operation_name: str | None) -> PreparedOperation:
        """Parse, validate and bound the operation; raise the §6 400 codes."""
        try:
            return self._prepare_cached(query, operation_name)
        except GatewayError:
            raise

    def _prepare_uncached(self, query: str, operation_name: str | None) -> PreparedOperation:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLSyntaxError as exc:
            # graphql-core ends the errors of its own limits (max_tokens, and its nesting guard,
            # "Document is nested too deeply") with this sentence; they are complexity, not syntax.
            if exc.message.endswith(_PARSER_LIMIT):
                if "tokens" in exc.message:
                    raise QueryTooComplex(f"the query has more than {self.max_tokens} tokens") from None
                raise QueryTooComplex("the query is nested too deeply to parse") from None
            raise GraphQLParseFailed(f"the query does not parse: {redact(exc.message, self.known_names)}") from None
        except RecursionError:
            raise QueryTooComplex("the query is nested too deeply to parse") from None
        measure_expansion(document, limit=MAX_EXPANDED_SELECTIONS)
        errors = validate(self.schema, document, hide_suggestions=True, max_errors=10)
        if errors:
            raise GraphQLValidationFailed(
                "; ".join(redact(e.message, self.known_names) for e in errors[:3]))
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise BadRequest("name the operation to run with operationName: the document has several, "
                             "or none by that name")
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._check_complexity(operation.selection_set, fragments)
        return PreparedOperation(document, operation, fragments, shape_sha256(document))

    def _check_complexity(self, root: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        # Validation has already refused fragment cycles, so the expansion below terminates; the
        # expanded size is bounded already (measure_expansion), and fragments are measured once.
        memo: dict[str, tuple[int, int]] = {}

        def measure(selection_set: SelectionSetNode | None) -> tuple[int, int]:
            """(depth, aliases) of a selection set with fragments expanded."""
            if selection_set is None:
                return 0, 0
            depth = aliases = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    d, a = measure(selection.selection_set)
                    depth = max(depth, d + 1)
                    aliases += a + (1 if selection.alias is not None else 0)
                elif isinstance(selection, InlineFragmentNode):
                    d, a = measure(selection.selection_set)
                    depth, aliases = max(depth, d), aliases + a
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in memo:
                        memo[name] = measure(fragments[name].selection_set)
                    d, a = memo[name]
                    depth, aliases = max(depth, d), aliases + a
            return depth, aliases

        depth, aliases = measure(root)
        if depth > self.max_depth:
            raise QueryTooComplex(f"the query is {depth} levels deep; at most {self.max_depth} are allowed")
        if aliases > self.max_aliases:
            raise QueryTooComplex(f"the query uses {aliases} aliases; at most {self.max_aliases} are allowed")

    def execute(self, prepared: PreparedOperation, variables: Mapping[str, Any] | None, context: Any,
                before: Callable[[], None] | None = None) -> dict[str, Any]:
        """Run the operation; return its data or raise the first error as a :class:`GatewayError`."""
        if before is not None:
            before()
        result = execute_sync(self.schema, prepared.document, context_value=context,
                         variable_values=dict(variables) if variables else None,
                         operation_name=prepared.operation.name.value if prepared.operation.name else None)
        if result.errors:
            raise self._first_error(result.errors)
        if result.data is None:  # pragma: no cover - execute returns data or errors
            raise InternalError("the operation returned nothing")
        return result.data

    def _first_error(self, errors: list[GraphQLError]) -> GatewayError:
        for error in errors:
            if isinstance(error.original_error, GatewayError):
                return error.original_error
        for error in errors:
            if error.original_error is None:
                # graphql-core's own: variables that do not coerce, and the like.
                return BadRequest(redact(error.message, self.known_names))
        original = errors[0].original_error
        # The type and the frames, never the message: an exception's text may quote a value.
        frames = "".join(traceback.format_tb(original.__traceback__)) if original is not None else ""
        log.error("resolver failed with %s\n%s", type(original).__name__, frames)
        return InternalError("the gateway failed to answer; the failure is logged, nothing was disclosed")
