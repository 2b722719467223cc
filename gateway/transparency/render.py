"""A report's three files (§10.3): the body of report.json, report.csv and report.html.

report.html is one self-contained page: inline CSS and inline SVG charts drawn here, no script,
no font, no image fetched, and a Content-Security-Policy of ``default-src 'none'`` that a browser
enforces even when the file is opened from disk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from gateway.orders.model import LEGAL_PROCESSES, OFFENSE_CATEGORIES
from gateway.transparency.figures import Banding
from gateway.transparency.period import Period
from gateway.values.fields import SUBJECT_FIELDS

__all__ = ["CSV_COLUMNS", "HTML_CSP", "CheckpointInfo", "report_body", "report_csv", "report_html"]

REPORT_TYPE = "disclosure-gateway/transparency-report"
_TOTAL = "TOTAL"

CSV_COLUMNS: tuple[str, ...] = (
    "period", "country", "requests_received", "requests_granted", "requests_rejected", "requests_pending",
    "requests_produced", "accounts_specified", "accounts_disclosed", "share_produced", "median_hours_to_decision",
    "median_hours_to_first_disclosure",
    *(f"disclosures_{name}" for name in SUBJECT_FIELDS),
    "orders_granted", "orders_revoked", "orders_expired_unused", "orders_exhausted",
    "emergency_requests_received", "emergency_requests_granted", "emergency_requests_produced",
    *(f"offense_{category}" for category in OFFENSE_CATEGORIES),
    *(f"process_{process}" for process in LEGAL_PROCESSES),
    # Section 17: appended, so the columns before keep their positions.
    "requests_withdrawn", "requests_amended",
)
"""report.csv's header: one row per country, then the TOTAL row."""


@dataclass(frozen=True)
class CheckpointInfo:
    origin: str
    tree_size: int
    root_hash: str  # standard base64
    note: str

    def as_document(self) -> dict[str, Any]:
        return {"origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash, "note": self.note}


def report_body(*, period: Period, banding: Banding, checkpoint: CheckpointInfo, figures: Mapping[str, Any],
                version: int, supersedes: int | None, generated_at: str) -> dict[str, Any]:
    """report.json without its signature."""
    return {"v": 1, "type": REPORT_TYPE, "period": period.as_document(), "version": version,
            "supersedes": supersedes, "generated_at": generated_at, "checkpoint": checkpoint.as_document(),
            "banding": banding.document(), **figures}


def _rows(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    countries: Mapping[str, Any] = report["countries"]
    return [(code, countries[code]) for code in sorted(countries)] + [(_TOTAL, report["total"])]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _csv_row(name: str, period: str, figures: Mapping[str, Any]) -> list[str]:
    emergency = figures["emergency"]
    values: list[Any] = [period, name, *(figures[k] for k in CSV_COLUMNS[2:12]),
                         *(figures["disclosures_by_field"][f] for f in SUBJECT_FIELDS),
                         figures["orders_granted"], figures["orders_revoked"], figures["orders_expired_unused"],
                         figures["orders_exhausted"], emergency["requests_received"], emergency["requests_granted"],
                         emergency["requests_produced"],
                         *(figures["by_offense_category"][c]["requests_received"] for c in OFFENSE_CATEGORIES),
                         *(figures["by_legal_process"][p]["requests_received"] for p in LEGAL_PROCESSES),
                         figures["requests_withdrawn"], figures["requests_amended"]]
    return [_cell(v) for v in values]


def report_csv(report: Mapping[str, Any]) -> str:
    """One row per country and a TOTAL row, RFC 4180 with CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for name, figures in _rows(report):
        writer.writerow(_csv_row(name, report["period"]["name"], figures))
    return out.getvalue()


# -- HTML -------------------------------------------------------------------------------------

HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
thead th:first-child,tbody th{text-align:left;font-weight:normal;font-family:monospace}thead th{background:#f0f0f0}
.scroll{overflow-x:auto}
svg text{font-size:12px;fill:#1b1b1b}.note{white-space:pre-wrap;font-family:monospace;font-size:.8rem}
.granted{fill:#2b7a3d}.rejected{fill:#b3261e}.pending{fill:#9e9e9e}.bar{fill:#3366aa}.band{fill:#c7d3e8}
"""


def _number(value: Any) -> float:
    """A bar's length: a count, or the top of its band (drawn lighter)."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and "-" in value:
        return float(value.rsplit("-", 1)[1])
    return 0.0


def _bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Any]]], *,
               percent: bool = False) -> str:
    """A horizontal bar chart as inline SVG; several series stack. Values may be band strings."""
    width, left, row, top = 640, 120, 26, 10
    height = top + row * len(labels) + 30
    totals = [sum(_number(values[i]) for _, values in series) for i in range(len(labels))]
    scale_max = 1.0 if percent else max([*totals, 1.0])
    span = width - left - 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for i, label in enumerate(labels):
        y = top + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>')
        x = float(left)
        shown: list[str] = []
        for css, values in series:
            value = values[i]
            length = span * _number(value) / scale_max
            kind = "band" if isinstance(value, str) else css
            if length > 0:
                parts.append(f'<rect class="{kind}" x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="{row - 8}">'
                             f'<title>{escape(css)}: {escape(str(value))}</title></rect>')
            x += length
            shown.append("–" if value is None else (f"{value * 100:.0f}%" if percent and not isinstance(value, str)
                                                    else str(value)))
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{escape(" / ".join(shown))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(report: Mapping[str, Any]) -> str:
    """Every CSV column as a row, one column per country and the total: it reads down, not across."""
    rows = _rows(report)
    cells = [_csv_row(name, report["period"]["name"], figures) for name, figures in rows]
    head = "<th>figure</th>" + "".join(f"<th>{escape(name)}</th>" for name, _ in rows)
    body = []
    for position, column in enumerate(CSV_COLUMNS[2:], start=2):
        values = "".join(f"<td>{escape(row[position])}</td>" for row in cells)
        body.append(f"<tr><th scope=\"row\">{escape(column)}</th>{values}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def report_html(report: Mapping[str, Any]) -> str:
    """The one-page report: headline charts, then the table of every figure."""
    rows = _rows(report)
    labels = [name for name, _ in rows]
    period = report["period"]
    checkpoint = report["checkpoint"]
    banding = report["banding"]
    banding_text = ("exact counts" if banding.get("mode") == "exact"
                    else f"counts below {banding['below']} shown as {banding['label']}" + (
                        ", and blank (–) whatever would let such a count be worked out from the others"
                        if "suppression" in banding else ""))
    requests = _bar_chart("Requests per country: granted, rejected, pending", labels, [
        ("granted", [f["requests_granted"] for _, f in rows]), ("rejected", [f["requests_rejected"] for _, f in rows]),
        ("pending", [f["requests_pending"] for _, f in rows])])
    share = _bar_chart("Share of requests where some data was produced", labels,
                       [("bar", [f["share_produced"] for _, f in rows])], percent=True)
    total = report["total"]["disclosures_by_field"]
    fields = _bar_chart("Disclosures by field", list(SUBJECT_FIELDS), [("bar", [total[f] for f in SUBJECT_FIELDS])])
    title = f"Transparency report {period['name']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p>Requests submitted from {escape(period['from'])} until {escape(period['until'])}, with what became of them as of
{escape(str(report.get('as_of')))}: computed from the first {int(checkpoint['tree_size'])} entries of the audit log,
whose signed checkpoint is below. Version {int(report['version'])}{
    f", superseding version {int(report['supersedes'])}" if report.get('supersedes') else ""}; {escape(banding_text)}.
Anyone can recompute every figure from the exported entries with <code>gateway transparency verify</code>.</p>
<h2>Requests per country</h2>
<p><svg width="12" height="12"><rect class="granted" width="12" height="12"/></svg> granted
<svg width="12" height="12"><rect class="rejected" width="12" height="12"/></svg> rejected
<svg width="12" height="12"><rect class="pending" width="12" height="12"/></svg> pending</p>
{requests}
<h2>Share of requests where some data was produced</h2>
{share}
<h2>Disclosures by field (all countries)</h2>
{fields}
<h2>Every figure</h2>
{_table(report)}
<h2>Checkpoint</h2>
<p class="note">{escape(checkpoint['note'])}</p>
</body></html>
"""
