"""The gateway's one error tree. Services raise these; only the HTTP/GraphQL edge turns them into
responses (docs/PROTOCOL.md §6 body, code and status). Anything else reaching the edge is masked as an
internal error and logged without subject data.

    GatewayError                         (code, status)
    ├── BadRequest                       BAD_REQUEST 400
    │   ├── GraphQLParseFailed           GRAPHQL_PARSE_FAILED 400
    │   ├── GraphQLValidationFailed      GRAPHQL_VALIDATION_FAILED 400
    │   └── QueryTooComplex              QUERY_TOO_COMPLEX 400
    ├── AuthenticationError              401 (UNAUTHENTICATED, TOKEN_*, UNKNOWN_PRINCIPAL)
    ├── Forbidden                        403
    │   ├── ForbiddenRole                FORBIDDEN_ROLE
    │   ├── OrderNotFound                ORDER_NOT_FOUND
    │   ├── OrderNotActive               ORDER_NOT_ACTIVE
    │   ├── OrderExpired                 ORDER_EXPIRED
    │   ├── OrderRevoked                 ORDER_REVOKED
    │   ├── OrderExhausted               ORDER_EXHAUSTED
    │   ├── OrderLapsed                  ORDER_LAPSED (an emergency order past its hours, no court order)
    │   ├── FieldNotPermitted            FIELD_NOT_PERMITTED
    │   ├── SubjectNotPermitted          SUBJECT_NOT_PERMITTED
    │   ├── RequestAmended               REQUEST_AMENDED (an order drafted on an earlier request version)
    │   └── RequestWithdrawn             REQUEST_WITHDRAWN (its authority withdrew the request)
    ├── MethodNotAllowed                 METHOD_NOT_ALLOWED 405
    ├── PayloadTooLarge                  PAYLOAD_TOO_LARGE 413
    ├── UnsupportedMediaType             UNSUPPORTED_MEDIA_TYPE 415
    ├── RateLimited                      RATE_LIMITED 429
    ├── AuditUnavailable                 AUDIT_UNAVAILABLE 503
    ├── SourceUnavailable                SOURCE_UNAVAILABLE 503 (the subject source could not answer)
    ├── InternalError                    INTERNAL_ERROR 500 (a bug, masked; never caused by input)
    └── OperatorError                    BAD_REQUEST 400 (CLI only: bad files, missing keys, bad arguments)
        ├── SubjectImportError           an import refused at one line; nothing of it stored
        └── DatabaseUnreachable          the database did not answer (the CLI exits 4, not 2)

Errors that never reach the wire as themselves: the CLI and the verifiers report them, and the
edge masks any that escapes as INTERNAL_ERROR. They keep the library bases callers catch them by.

    StoreIntegrityError      (Exception) a stored ciphertext did not open; fixed message
    SubjectLineError         (ValueError) one import line is not a valid subject
    UnknownSubjectField      (ValueError) a field name outside SUBJECT_FIELDS
    InvalidField             (Exception) the subject parser's reason for one field, never its value
    LogVerificationError     (Exception) `gateway audit verify`: the log does not verify
    MissingNode              (LookupError) a stored tree node is missing: the database is damaged
    ReportSignatureError     (Exception) a transparency report's signature does not verify
    ReportVerificationError  (Exception) a transparency report does not verify against the log
    FiguresError             (ValueError) an entry's facts are malformed; no figure can be computed

No other module of ``gateway`` defines an exception class (tests/gateway/test_errors.py walks them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from crypto.errors import CryptoError

__all__ = [
    "AuditUnavailable",
    "AuthenticationError",
    "BadRequest",
    "DatabaseUnreachable",
    "FieldNotPermitted",
    "FiguresError",
    "Forbidden",
    "ForbiddenRole",
    "GatewayError",
    "GraphQLParseFailed",
    "GraphQLValidationFailed",
    "InternalError",
    "InvalidField",
    "KeyRetired",
    "LogVerificationError",
    "MethodNotAllowed",
    "MissingNode",
    "NotFound",
    "OperatorError",
    "OrderExhausted",
    "OrderExpired",
    "OrderLapsed",
    "OrderNotActive",
    "OrderNotFound",
    "OrderRevoked",
    "PayloadTooLarge",
    "QueryTooComplex",
    "RateLimited",
    "ReportSignatureError",
    "ReportVerificationError",
    "RequestAmended",
    "RequestWithdrawn",
    "SourceUnavailable",
    "StoreIntegrityError",
    "SubjectHeld",
    "SubjectImportError",
    "SubjectLineError",
    "SubjectNotPermitted",
    "UnknownSubjectField",
    "UnsupportedMediaType",
    "WorkerFailed",
    "from_crypto",
]

PROTOCOL_CODES: dict[str, int] = {
    "BAD_REQUEST": 400, "GRAPHQL_PARSE_FAILED": 400, "GRAPHQL_VALIDATION_FAILED": 400,
    "QUERY_TOO_COMPLEX": 400,
    "UNAUTHENTICATED": 401, "TOKEN_INVALID": 401, "TOKEN_EXPIRED": 401, "TOKEN_LIFETIME_TOO_LONG": 401,
    "TOKEN_REPLAYED": 401, "TOKEN_BODY_MISMATCH": 401, "TOKEN_AUDIENCE_MISMATCH": 401,
    "UNKNOWN_PRINCIPAL": 401, "KEY_REVOKED": 401, "KEY_SUPERSEDED": 401,
    "FORBIDDEN_ROLE": 403, "ORDER_NOT_FOUND": 403, "ORDER_NOT_ACTIVE": 403, "ORDER_EXPIRED": 403,
    "ORDER_REVOKED": 403, "ORDER_EXHAUSTED": 403, "FIELD_NOT_PERMITTED": 403, "SUBJECT_NOT_PERMITTED": 403,
    "ORDER_LAPSED": 403, "REQUEST_AMENDED": 403, "REQUEST_WITHDRAWN": 403,
    "METHOD_NOT_ALLOWED": 405, "PAYLOAD_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMITED": 429, "INTERNAL_ERROR": 500, "AUDIT_UNAVAILABLE": 503,
    "SOURCE_UNAVAILABLE": 503,
}
"""Every docs/PROTOCOL.md §6 code and its HTTP status."""


class GatewayError(Exception):
    """Base of the tree: a stable docs/PROTOCOL.md §6 ``code``, its HTTP ``status`` and a message that
    says what to do next. Messages never carry plaintext subject data."""

    code: str = "BAD_REQUEST"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    code = "BAD_REQUEST"


class NotFound(BadRequest):
    """An id that names nothing the caller may see (requests, orders for reviewers)."""


class GraphQLParseFailed(BadRequest):
    code = "GRAPHQL_PARSE_FAILED"


class GraphQLValidationFailed(BadRequest):
    code = "GRAPHQL_VALIDATION_FAILED"


class QueryTooComplex(BadRequest):
    code = "QUERY_TOO_COMPLEX"


class AuthenticationError(GatewayError):
    """A 401; the concrete code is chosen per instance from §6 (``UNAUTHENTICATED`` names the class)."""

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, code: str, message: str) -> None:
        if PROTOCOL_CODES.get(code) != 401:
            raise ValueError(f"{code} is not a 401 code")
        super().__init__(message)
        self.code = code


class Forbidden(GatewayError):
    status = 403
    code = "FORBIDDEN_ROLE"


class ForbiddenRole(Forbidden):
    code = "FORBIDDEN_ROLE"


class OrderNotFound(Forbidden):
    code = "ORDER_NOT_FOUND"


class OrderNotActive(Forbidden):
    code = "ORDER_NOT_ACTIVE"


class OrderExpired(Forbidden):
    code = "ORDER_EXPIRED"


class OrderRevoked(Forbidden):
    code = "ORDER_REVOKED"


class OrderExhausted(Forbidden):
    code = "ORDER_EXHAUSTED"


class OrderLapsed(Forbidden):
    """An emergency order past its hours without a court order attached in time."""

    code = "ORDER_LAPSED"


class FieldNotPermitted(Forbidden):
    code = "FIELD_NOT_PERMITTED"


class SubjectNotPermitted(Forbidden):
    code = "SUBJECT_NOT_PERMITTED"


class RequestAmended(Forbidden):
    """An order drafted on an earlier version of its request: the request was amended since."""

    code = "REQUEST_AMENDED"


class RequestWithdrawn(Forbidden):
    """The request's authority withdrew it: nothing more is decided on it."""

    code = "REQUEST_WITHDRAWN"


class MethodNotAllowed(GatewayError):
    code = "METHOD_NOT_ALLOWED"
    status = 405


class PayloadTooLarge(GatewayError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedMediaType(GatewayError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class RateLimited(GatewayError):
    code = "RATE_LIMITED"
    status = 429


class AuditUnavailable(GatewayError):
    code = "AUDIT_UNAVAILABLE"
    status = 503


class SourceUnavailable(GatewayError):
    """The subject source (the platform's database) is down, timed out or answered a value of the
    wrong shape: nothing is disclosed and the order is not charged. Never names the value."""

    code = "SOURCE_UNAVAILABLE"
    status = 503


class InternalError(GatewayError):
    """A bug, masked: the client learns only that it happened. Never caused by input on purpose."""

    code = "INTERNAL_ERROR"
    status = 500


class OperatorError(GatewayError):
    """A CLI-side problem (missing keys, bad file, bad argument); never reaches the wire."""



class DatabaseUnreachable(OperatorError):
    """The database could not be reached or would not let the gateway in; ``message`` names the
    setting to check, never its value."""


class SubjectImportError(OperatorError):
    """An import was refused at ``line_number`` and nothing of it was stored."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


# -- errors that never reach the wire as themselves ----------------------------------------------


class SubjectHeld(OperatorError):
    """A subject to delete is named by an active preservation hold; nothing was deleted."""

    def __init__(self, hold_id: str) -> None:
        super().__init__(f"the subject is under preservation hold {hold_id}, active now; nothing was deleted. "
                         "Delete it once the hold has ended (`preservationCounts` shows active holds)")
        self.hold_id = hold_id


class StoreIntegrityError(Exception):
    """A stored ciphertext did not open: the row was altered, moved or sealed under another key.

    The message is fixed and says nothing about the row's contents; the edge masks it as an
    internal error."""

    MESSAGE: Final = "stored subject data failed its integrity check"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class WorkerFailed(RuntimeError):
    """An ingestion worker (gateway/subjects/pipeline.py) raised, which is a bug (a bad line is an
    answer, not an exception), or ended. Only the exception's type is told: its message could quote
    a line."""


class SubjectLineError(ValueError):
    """One import line is not a valid subject. ``reason`` names the field, never its value."""

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


class UnknownSubjectField(ValueError):
    """A field name that is not one of ``expected`` (the value layer's field names: errors sit below
    the value layer, so the caller passes them)."""

    def __init__(self, expected: Sequence[str]) -> None:
        super().__init__(f"unknown subject field; expected one of {', '.join(expected)}")


class InvalidField(Exception):
    """Internal: a field is invalid; carries the reason only, turned into SubjectLineError."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LogVerificationError(Exception):
    """The log does not verify. ``index`` is the first entry that does not hold (or the first
    missing one); ``checkpoint`` the tree size of the checkpoint that does not; ``node`` the
    ``(level, index)`` of a stored tree node that does not match the entries."""

    def __init__(self, reason: str, *, index: int | None = None, checkpoint: int | None = None,
                 node: tuple[int, int] | None = None, order: str | None = None) -> None:
        self.reason = reason
        self.index = index
        self.checkpoint = checkpoint
        self.node = node
        self.order = order
        super().__init__(f"{self.where}: {reason}")

    @property
    def where(self) -> str:
        if self.checkpoint is not None:
            return f"checkpoint at tree size {self.checkpoint}"
        if self.node is not None:
            return f"tree node (level {self.node[0]}, index {self.node[1]})"
        if self.order is not None:
            return f"order {self.order}"
        return f"entry {self.index}"


class KeyRetired(Exception):
    """A checkpoint of ``size`` was about to be signed by a key that the log's signing-key record
    (gateway/audit/key_record.py) does not let sign it: retired before that size, or not in the
    record. Raised before anything is written, so the caller's transaction is intact; never an answer
    to a client (the signer takes the record's key or signs nothing)."""

    def __init__(self, reason: str, *, size: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.size = size


class MissingNode(LookupError):
    """A tree node that should be stored is not: the database is damaged (or edited)."""


class ReportSignatureError(Exception):
    """The report carries no signature that verifies with the expected key."""


class ReportVerificationError(Exception):
    """The report does not verify; ``figure`` is the path of the first figure that differs, if any."""

    def __init__(self, reason: str, *, figure: str | None = None) -> None:
        self.reason = reason
        self.figure = figure
        super().__init__(reason)


class FiguresError(ValueError):
    """An entry's facts are malformed, so no figure can be computed from the log as it is."""


def from_crypto(error: CryptoError) -> GatewayError:
    """Translate a crypto-layer error into the gateway tree, keeping its §6 code."""
    status = PROTOCOL_CODES.get(error.code, 400)
    if status == 401:
        return AuthenticationError(error.code, error.message)
    return BadRequest(error.message)
