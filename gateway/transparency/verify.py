"""`gateway transparency verify` (§10.5): prove a report from an export of the log, with no database.

In order: the report's checkpoint note must verify with the verifier key and agree with the
report's origin, tree size and root hash; every exported line must be the canonical RFC 8785 text
of entry ``i`` on line ``i``; the RFC 9162 root of their leaf hashes must be the signed root; every
figure recomputed from the entries (:mod:`gateway.transparency.figures`) must equal the report's;
and the report's own signature must verify with the same key. The first failure raises
:class:`ReportVerificationError`, which names the figure (``countries.DE.requests_granted``) or
the entry or check that does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nacl.signing import VerifyKey

from crypto import merkle
from crypto.canonical import canonical_json, parse_json_object
from crypto.encoding import b64encode
from crypto.errors import CryptoError
from crypto.note import NoteVerifier, verify_checkpoint
from gateway.errors import BadRequest, FiguresError, ReportSignatureError, ReportVerificationError
from gateway.transparency.figures import Banding, Tally
from gateway.transparency.period import parse_period
from gateway.transparency.signing import verify_report_signature

__all__ = ["FIGURE_KEYS", "VerifiedReport", "first_difference", "verify_report"]

FIGURE_KEYS = ("as_of", "total", "countries")
"""The report keys recomputed from the entries."""


@dataclass(frozen=True)
class VerifiedReport:
    period: str
    version: int
    tree_size: int
    root_hash: str
    figures: int  # how many figures were recomputed and compared


def first_difference(claimed: Any, computed: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first path (in sorted key order) where two JSON values differ, with both values."""
    if isinstance(claimed, dict) and isinstance(computed, dict):
        for key in sorted(set(claimed) | set(computed)):
            where = f"{path}.{key}" if path else str(key)
            if key not in claimed or key not in computed:
                return where, claimed.get(key, "(absent)"), computed.get(key, "(absent)")
            found = first_difference(claimed[key], computed[key], where)
            if found is not None:
                return found
        return None
    same = type(claimed) is type(computed) and claimed == computed
    return None if same else (path, claimed, computed)


def _count_leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count_leaves(v) for v in value.values())
    return 1


def _field(document: Mapping[str, Any], key: str, kind: type) -> Any:
    value = document.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ReportVerificationError(f"the report's {key} is missing or malformed")
    return value


def verify_report(report_text: str | bytes, lines: Iterable[bytes], verifier: NoteVerifier, *,
                  progress: Callable[[int], None] | None = None) -> VerifiedReport:
    """Verify ``report_text`` (report.json) against the exported entries ``lines`` (one JCS entry
    per line, newline excluded or included) and the gateway's ``verifier`` key. Return what was
    verified or raise :class:`ReportVerificationError` at the first thing that does not hold."""
    try:
        report = parse_json_object(report_text, what="report")
    except CryptoError as exc:
        raise ReportVerificationError(f"the report is not a JSON object: {exc.message}") from exc
    if report.get("v") != 1:
        raise ReportVerificationError("the report is not version 1")
    checkpoint = _field(report, "checkpoint", dict)
    try:
        signed = verify_checkpoint(str(checkpoint.get("note")), verifier)
    except CryptoError as exc:
        raise ReportVerificationError(f"the report's checkpoint note does not verify: {exc.message}") from exc
    signed_fields = (("origin", signed.origin), ("tree_size", signed.size), ("root_hash", b64encode(signed.root_hash)))
    for key, value in signed_fields:
        if checkpoint.get(key) != value:
            raise ReportVerificationError(f"checkpoint.{key} is not the signed note's", figure=f"checkpoint.{key}")
    period_document = _field(report, "period", dict)
    try:
        period = parse_period(str(period_document.get("name")))
        banding = Banding.from_document(report.get("banding"))
    except (BadRequest, FiguresError) as exc:
        raise ReportVerificationError(f"the report's period or banding is malformed: {exc}") from exc
    if period.as_document() != period_document:
        raise ReportVerificationError("the report's period bounds are not its name's", figure="period")

    edge, tally, count = merkle.RightEdge(), Tally(period, banding), 0
    for line in lines:
        raw = line[:-1] if line.endswith(b"\n") else line
        if count >= signed.size:
            raise ReportVerificationError(f"the export holds more than the checkpoint's {signed.size} entries; "
                                          f"export with `gateway audit export --to {signed.size}`")
        try:
            document = parse_json_object(raw, what="audit entry")
            canonical = canonical_json(document) == raw
        except CryptoError as exc:
            raise ReportVerificationError(f"exported entry {count} does not parse: {exc.message}") from exc
        if not canonical:
            raise ReportVerificationError(f"exported entry {count} is not in canonical RFC 8785 form")
        if document.get("index") != count or document.get("v") != 1:
            raise ReportVerificationError(f"line {count + 1} of the export is not entry {count}")
        edge.append(merkle.leaf_hash(raw))
        try:
            tally.add(document)
        except FiguresError as exc:
            raise ReportVerificationError(f"the figures cannot be computed: {exc}") from exc
        count += 1
        if progress is not None:
            progress(count)
    if count != signed.size:
        raise ReportVerificationError(f"the export holds {count} entries; the checkpoint covers {signed.size}")

    figures = tally.figures()
    difference = first_difference({k: report.get(k) for k in FIGURE_KEYS}, figures)
    if edge.root() != signed.root_hash:
        also = "" if difference is None else f"; figure {difference[0]} would then differ too"
        raise ReportVerificationError(
            f"the root of the {count} exported entries is not the checkpoint's signed root: the export is not "
            f"the log the report was computed from{also}", figure=None if difference is None else difference[0])
    if difference is not None:
        where, claimed, computed = difference
        raise ReportVerificationError(f"figure {where} differs: the report says {claimed!r}, the log gives "
                                      f"{computed!r}", figure=where)
    try:
        verify_report_signature(report, VerifyKey(verifier.public_key))
    except ReportSignatureError as exc:
        raise ReportVerificationError(str(exc)) from exc
    return VerifiedReport(period=period.name, version=int(report.get("version") or 0), tree_size=signed.size,
                          root_hash=b64encode(signed.root_hash), figures=_count_leaves(figures))
