"""Published reports (§10.6): stored once, never changed. Generating a period again at a later
checkpoint (or with another banding) inserts a new version that names the one it supersedes;
generating it again at the same checkpoint and banding returns the stored report unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from gateway.store.tables import TransparencyReportRow

__all__ = ["StoredReport", "find_report", "insert_report", "latest_report", "list_reports"]

_reports = TransparencyReportRow.__table__  # type: ignore[attr-defined]
_META = (_reports.c.period, _reports.c.version, _reports.c.supersedes, _reports.c.tree_size, _reports.c.banding,
         _reports.c.created_at)


@dataclass(frozen=True)
class StoredReport:
    period: str
    version: int
    supersedes: int | None
    tree_size: int
    banding: str  # the report's banding object as JCS text
    created_at: int
    json: str = ""
    csv: str = ""
    html: str = ""


def _stored(row: object, *, files: bool) -> StoredReport:
    values = row._mapping  # type: ignore[attr-defined]
    return StoredReport(period=values["period"], version=int(values["version"]), supersedes=values["supersedes"],
                        tree_size=int(values["tree_size"]), banding=values["banding"],
                        created_at=int(values["created_at"]),
                        json=values["report_json"] if files else "", csv=values["report_csv"] if files else "",
                        html=values["report_html"] if files else "")


def list_reports(connection: Connection) -> list[StoredReport]:
    """Every stored version, without its files: by period, newest version first."""
    rows = connection.execute(select(*_META).order_by(_reports.c.period, _reports.c.version.desc()))
    return [_stored(row, files=False) for row in rows]


def find_report(connection: Connection, period: str, version: int | None = None) -> StoredReport | None:
    """One version of a period's report (default: the latest), with its files; None if there is none."""
    query = select(_reports).where(_reports.c.period == period)
    query = (query.where(_reports.c.version == version) if version is not None
             else query.order_by(_reports.c.version.desc()).limit(1))
    row = connection.execute(query).first()
    return None if row is None else _stored(row, files=True)


def latest_report(connection: Connection, period: str) -> StoredReport | None:
    return find_report(connection, period)


def insert_report(connection: Connection, report: StoredReport) -> None:
    """Store a new version. The primary key (period, version) refuses a second writer of the same
    version, so two operators generating at once cannot overwrite each other."""
    connection.execute(insert(_reports).values(
        period=report.period, version=report.version, supersedes=report.supersedes, tree_size=report.tree_size,
        banding=report.banding, created_at=report.created_at, report_json=report.json, report_csv=report.csv,
        report_html=report.html))
