"""`POST /graphql`: every check in docs/PROTOCOL.md order, one audit entry per request, §6 bodies.

Order of checks: method (405) → content type (415) → body size (413) → token (401) → JSON (400)
→ GraphQL parse/validate/complexity (400) → role, order and scope (403) → execution. Whatever the
outcome, the audit entry is made durable before the response leaves; if it cannot be, the answer
is 503 ``AUDIT_UNAVAILABLE`` and nothing is disclosed. The one exception is flood control
(:mod:`gateway.api.http.rate_limit`): past the limit, refusals before authentication get 429 and are
counted in summary entries shared by the 429s waiting together, each durable before the 429s it
counts are answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from graphql.language.ast import FieldNode, OperationDefinitionNode
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.graphql.access import authorize
from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.engine import GraphQLEngine
from gateway.api.graphql.scope import analyse, coerce_variables
from gateway.api.http.json_response import CompactJSONResponse
from gateway.api.http.rate_limit import Admission, DurableSummaries, FloodControl, summary_event
from gateway.api.http.request_log import AUDIT_INDEX, REQUEST_ID
from gateway.audit.model import AuditEvent, AuditReceipt, Decision
from gateway.errors import (
    AuditUnavailable,
    BadRequest,
    GatewayError,
    InternalError,
    MethodNotAllowed,
    OrderExhausted,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from gateway.observability.logs import bind_audit_index, bind_request
from gateway.observability.tracing import server_span
from gateway.principals.authenticate import authenticate, bearer_token, single_authorization
from gateway.principals.replay import replayed
from gateway.services import Services
from gateway.store.undo import Undo
from gateway.transparency import facts
from gateway.values.ids import HTTP_REQUEST, new_id

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["GraphQLEndpoint", "error_body"]

log = logging.getLogger("gateway.http")
T = TypeVar("T")


def error_body(error: GatewayError) -> dict[str, Any]:
    return {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}


@dataclass
class _Handled:
    """What processing produced before the audit entry is written: what the request showed of
    itself on the way (who called, which operation, what the resolvers did) and how it ended. The
    audit event is built from it once, where the request ends (:func:`audit_event`). ``context`` is
    set once the caller is authenticated, and holds the caller."""

    operation_sha256: str | None = None
    token_spent: bool = False  # a mutation spent its token in a commit of its own, before running
    context: RequestContext | None = None
    data: dict[str, Any] | None = None
    error: GatewayError | None = None
    undo: list[Undo] = field(default_factory=list)


def audit_event(request_id: str, now: datetime, handled: _Handled, *, keep_until: Callable[[int], int]) -> AuditEvent:
    """The request's one audit event, from the caller, the prepared operation, the resolvers'
    outcome and the error. A refused request records what it selected and touched, but no
    disclosure, no charge and no facts: its changes were undone, so there is nothing to count."""
    context = handled.context
    event: dict[str, Any] = {"request_id": request_id, "time": now, "operation_sha256": handled.operation_sha256}
    if context is not None:
        caller, claims, outcome = context.caller, context.caller.claims, context.outcome
        event |= {"principal": caller.principal.id, "principal_verified": True, "jti": claims.jti}
        if not handled.token_spent:
            # Recorded in the audit entry's own commit, refused or not, so the token is spent either way.
            event["consume_token"] = (claims.issuer, claims.jti, keep_until(claims.expires_at))
        event |= {"order_id": outcome.order_id, "fields": sorted(outcome.fields),
                  "subjects": sorted(outcome.subjects), "action": outcome.action}
    if handled.error is not None:
        return AuditEvent(decision=Decision.REFUSED, code=handled.error.code, **event)
    assert context is not None  # a request served was authenticated and ran
    outcome = context.outcome
    if not outcome.ciphertexts:
        return AuditEvent(decision=Decision.SERVED, facts=list(outcome.facts), **event)
    disclosed = [] if context.order is None or context.order.document is None else [
        facts.disclosed(context.order.document)]
    return AuditEvent(decision=Decision.DISCLOSED, facts=[*outcome.facts, *disclosed],
                      disclosure_sha256=hashlib.sha256("\n".join(outcome.ciphertexts).encode("ascii")).hexdigest(),
                      charge_order=outcome.charge_order, max_queries=outcome.max_queries, **event)


def reverse(undo: list[Undo]) -> None:
    """Reverse a request's committed mutations, newest first: it ended refused or unaudited."""
    for step in reversed(undo):
        try:
            step()
        except Exception as exc:  # logged without values; the others are still reversed
            log.error("could not reverse a change of a request that ended refused: %s", type(exc).__name__)
    undo.clear()


class GraphQLEndpoint:
    def __init__(self, services: Services, engine: GraphQLEngine, *, tracer: Tracer | None = None) -> None:
        self.services = services
        self.engine = engine
        self.tracer = tracer
        self.flood = FloodControl(services.settings.rate_limit_per_minute)
        self.summaries = DurableSummaries(self.flood, services.audit.append, services.clock,
                                          interval_s=services.settings.rate_limit_summary_interval_s)
        self._limiter: anyio.CapacityLimiter | None = None

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` in one of ``worker_threads`` threads: the event loop never waits on the
        database, and requests beyond the pool queue here rather than in the connection pool."""
        if self._limiter is None:  # made on first use: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.services.settings.worker_threads)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A raw ASGI app, so that every method reaches it and gets a §6 answer (405)."""
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Answer one request, and count it: root operation, §6 code (``OK``) and latency."""
        started = time.perf_counter()
        labels = {"operation": "none", "code": "OK"}
        with server_span(self.tracer, "POST /graphql", request.headers) as current:
            try:
                response = await self._handle(request, labels)
            finally:
                self.services.metrics.request(labels["operation"], labels["code"], time.perf_counter() - started)
            if current is not None:
                # Only what a metric may carry, and the ids an operator looks entries up by (tracing module).
                current.set_attributes({"gateway.operation": labels["operation"], "gateway.code": labels["code"],
                                        "http.response.status_code": response.status_code,
                                        "gateway.request_id": labels.get("request_id", ""),
                                        "gateway.audit_index": int(labels.get("audit_index", "-1"))})
            return response

    async def _handle(self, request: Request, labels: dict[str, str]) -> Response:
        services = self.services
        request_id = new_id(HTTP_REQUEST)
        bind_request(request_id)
        labels["request_id"] = request_id
        state = request.scope.setdefault("state", {})  # for the request log (gateway.api.http.request_log)
        state[REQUEST_ID] = request_id
        now = services.clock()
        handled: _Handled
        try:
            body = await self._read_body(request)
            authorization = request.headers.getlist("authorization")
            # No database and no key in this check, so no worker thread: a request without a
            # well-formed bearer header (the flood that flood control counts) is refused here.
            bearer_token(single_authorization(authorization))
            handled = await self.in_thread(self._process, authorization, body, now, labels)
        except GatewayError as exc:
            handled = _Handled(error=exc)
        except ClientDisconnect:
            handled = _Handled(error=BadRequest("the client closed the connection mid-body"))
        except Exception as exc:  # a bug (in authentication, say): masked, logged without values, audited
            log.error("request failed with %s", type(exc).__name__)
            handled = _Handled(error=InternalError("the gateway failed to answer; nothing was disclosed"))
        if handled.error is not None:
            labels["code"] = handled.error.code
            if handled.context is None:
                # Refused before authentication: flood control decides whether it gets an entry.
                admission = self.flood.refusal(request.client.host if request.client else None, now)
                if not admission.allowed:
                    labels["code"] = RateLimited.code
                    try:
                        summary_index = await self.summaries.covering()
                    except AuditUnavailable as exc:
                        return CompactJSONResponse(error_body(exc), status_code=exc.status)
                    state[AUDIT_INDEX] = summary_index
                    return _rate_limited(admission, summary_index)
        try:
            receipt = await services.audit.append(
                audit_event(request_id, now, handled, keep_until=services.replay.keep_until))
        except AuditUnavailable as exc:
            # Unlogged means undone: a review action must not stand without its entry.
            await self.in_thread(reverse, handled.undo)
            labels["code"] = exc.code
            return CompactJSONResponse(error_body(exc), status_code=exc.status)
        bind_audit_index(receipt.index)
        if handled.error is None and receipt.decision is Decision.REFUSED and handled.undo:
            await self.in_thread(reverse, handled.undo)  # pragma: no cover - mutations spend tokens first
        labels["audit_index"] = str(receipt.index)
        if receipt.code is not None:
            labels["code"] = receipt.code
        state[AUDIT_INDEX] = receipt.index
        return self._respond(handled, receipt)

    def close(self) -> None:
        """Queue a summary of whatever was counted and not yet written; call before the writer closes.
        (Normally nothing: every 429 waits for the entry that counts it.)"""
        now = self.services.clock()
        for summary in self.flood.take():
            self.services.audit.submit(summary_event(summary, now))

    async def _read_body(self, request: Request) -> bytes:
        if request.method != "POST":
            raise MethodNotAllowed("send GraphQL operations as HTTP POST with a JSON body")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType("send the body as Content-Type: application/json")
        limit = self.services.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _process(self, authorization: list[str], body: bytes, now: datetime, labels: dict[str, str]) -> _Handled:
        """Authenticate and run the operation (in a worker thread: it touches the database)."""
        with self.services.request_reads():
            return self._process_reading(authorization, body, now, labels)

    def _process_reading(self, authorization: list[str], body: bytes, now: datetime,
                         labels: dict[str, str]) -> _Handled:
        services = self.services
        try:
            caller = authenticate(single_authorization(authorization), body, registry=services.registry,
                                  replay=services.replay, settings=services.settings, now=int(now.timestamp()),
                                  consume=False)
        except GatewayError as exc:
            return _Handled(error=exc)
        handled = _Handled()
        context = handled.context = RequestContext(services=services, caller=caller, request_id=labels["request_id"],
                                                   now=now)
        try:
            handled.data = self._run(body, handled, context, labels)
        except GatewayError as exc:
            # All or nothing, mutations too: what an earlier field of this request changed is undone.
            reverse(context.undo)
            handled.error = exc
        except Exception as exc:  # a bug: masked, logged without values
            log.error("request failed with %s", type(exc).__name__)
            reverse(context.undo)
            handled.error = InternalError("the gateway failed to answer; nothing was disclosed")
        else:
            handled.undo = context.undo
        return handled

    def _run(self, body: bytes, handled: _Handled, context: RequestContext, labels: dict[str, str]) -> dict[str, Any]:
        payload = parse_payload(body)
        prepared = self.engine.prepare(payload["query"], payload.get("operationName"))
        labels["operation"] = root_operation(prepared.operation)
        handled.operation_sha256 = prepared.shape_sha256
        if prepared.kind != "query":
            # A mutation commits before its entry does: its token is spent first, in a commit of
            # its own, so that no replay of it can change anything.
            claims = context.caller.claims
            handled.token_spent = True
            self.services.replay.consume(claims.issuer, claims.jti, expires_at=claims.expires_at,
                                         now=int(context.now.timestamp()))
        variables = coerce_variables(self.engine.schema, prepared, payload.get("variables"), self.engine.known_names)
        authorize(analyse(self.engine.schema, prepared, variables), context)
        return self.engine.execute(prepared, payload.get("variables"), context)

    def _respond(self, handled: _Handled, receipt: AuditReceipt) -> Response:
        extensions = {"audit": receipt.extension()}
        if handled.error is None and receipt.decision is Decision.REFUSED:
            # The writer refused at commit time: the token's jti was recorded meanwhile by another
            # request, or concurrent requests used up the order.
            handled.error = (replayed() if receipt.code == "TOKEN_REPLAYED"
                             else OrderExhausted("the order has no queries left; ask for a new order"))
        if handled.error is not None:
            body = error_body(handled.error) | {"extensions": extensions}
            return CompactJSONResponse(body, status_code=handled.error.status)
        return CompactJSONResponse({"data": handled.data, "extensions": extensions})


def root_operation(operation: OperationDefinitionNode) -> str:
    """The metric label of a validated operation: its one root field's schema name, ``multiple``
    for several. Names come from the schema (validation refused any other), aliases are ignored,
    and fragments at the root count as ``multiple``, so the label set stays small."""
    names = {selection.name.value for selection in operation.selection_set.selections
             if isinstance(selection, FieldNode)}
    if len(names) == 1 and all(isinstance(s, FieldNode) for s in operation.selection_set.selections):
        return names.pop()
    return "multiple"


def _rate_limited(admission: Admission, summary_index: int | None) -> Response:
    """429 with no audit entry of its own: ``extensions.audit`` names the window and the durable
    summary entry that counts it, instead of a receipt (docs/PROTOCOL.md §7 cannot hold for it)."""
    error = RateLimited("too many refused requests from your address; send signed requests, or retry after "
                        f"{admission.retry_after_s} s")
    return CompactJSONResponse(error_body(error) | {"extensions": {"audit": admission.extension(summary_index)}},
                               status_code=error.status, headers={"retry-after": str(admission.retry_after_s)})


def parse_payload(body: bytes) -> dict[str, Any]:
    """The GraphQL-over-HTTP JSON body: one operation, never a batch (docs/PROTOCOL.md §5)."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not valid UTF-8 JSON") from None
    if isinstance(payload, list):
        raise BadRequest("batched operations are not supported; send one operation per request")
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object with a 'query' string")
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("the body must carry the operation as a non-empty 'query' string")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be a JSON object")
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        raise BadRequest("'operationName' must be a string")
    return payload
