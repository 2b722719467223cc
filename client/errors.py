"""The client's one error tree. Nothing here is the gateway's: a principal's toolkit reports what
stopped a call, what failed to verify, and what the person typed wrong.

    ClientError               anything that stopped a call (bad URL, inconsistent discovery…)
    ├── GatewayUnreachable    no connection, or no answer in time
    ├── GatewayResponseError  an answer that is not the gateway's JSON (a proxy's 502, HTML…)
    └── GatewayRefused        a §6 error body: ``code``, ``message``, HTTP ``status``, ``audit``
    UnsealError               a response whose values cannot all be opened and verified (exit 1)
    UsageError                a bad option, a missing key file, an unreadable court order (exit 2)
    MonitorError              the monitor could not do its check (network, bad state): no evidence
    MonitorAlarm              the monitored log is not what it claimed to be (exit 1)

Each carries ``message``: what went wrong and what to do, never anything from inside a sealed value.
"""

from __future__ import annotations

from client.audit_ref import AuditRef

__all__ = ["ClientError", "GatewayRefused", "GatewayResponseError", "GatewayUnreachable", "MonitorAlarm",
           "MonitorError", "UnsealError", "UsageError"]


class _MessageError(Exception):
    """An error whose ``message`` is meant for the person at the terminal."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(_MessageError):
    """Base of the errors that stop a call to the gateway; ``message`` says what to do."""


class GatewayUnreachable(ClientError):
    """The gateway could not be reached, or did not answer in time."""


class GatewayResponseError(ClientError):
    """The answer was not a gateway response: not JSON, or not shaped as GraphQL over HTTP."""


class GatewayRefused(ClientError):
    """A §6 refusal: the stable ``code``, the gateway's ``message``, the HTTP ``status`` and the
    audit entry the refusal was logged under (``None`` if the body carried none)."""

    def __init__(self, code: str, message: str, status: int, audit: AuditRef | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.audit = audit


class UnsealError(_MessageError):
    """A response whose values cannot all be opened and verified. ``message`` names the first value
    that failed (subject id and field), never anything from inside it."""


class UsageError(_MessageError):
    """What the person asked for cannot be done as asked: a bad option, a missing key file, an
    unreadable file. The command prints ``message`` and exits 2 (as the gateway's own commands do)."""


class MonitorError(Exception):
    """The monitor could not do its check (network, bad state): not evidence against the log."""


class MonitorAlarm(Exception):
    """The log is not what it claimed to be: the message names the sizes involved."""
