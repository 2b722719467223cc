"""Transparency reports (docs/PROTOCOL.md §10.6) for auditors: the same stored files the public
``GET /transparency`` routes serve, read through GraphQL (and so audit-logged like any operation)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from gateway.api.graphql.context import RequestContext
from gateway.transparency.period import parse_period
from gateway.transparency.store import StoredReport, find_report, list_reports
from gateway.values.times import format_time

__all__ = ["TransparencyQuery", "TransparencyReport"]


@strawberry.type(description="A stored transparency report version; the files are exactly as first written.")
class TransparencyReport:
    period: str
    version: int
    supersedes: int | None
    tree_size: int
    created_at: str
    json: str | None = strawberry.field(description="report.json (null in lists: ask transparencyReport)")
    csv: str | None = strawberry.field(description="report.csv (null in lists)")
    html: str | None = strawberry.field(description="report.html (null in lists)")


def _report(stored: StoredReport, *, files: bool) -> TransparencyReport:
    return TransparencyReport(period=stored.period, version=stored.version, supersedes=stored.supersedes,
                              tree_size=stored.tree_size,
                              created_at=format_time(datetime.fromtimestamp(stored.created_at, UTC)),
                              json=stored.json if files else None, csv=stored.csv if files else None,
                              html=stored.html if files else None)


@strawberry.type
class TransparencyQuery:
    @strawberry.field(description="Auditor: every stored transparency report version, newest version first.")
    def transparency_reports(self, info: strawberry.Info[RequestContext, None]) -> list[TransparencyReport]:
        info.context.require(info)
        with info.context.services.db.engine.connect() as connection:
            return [_report(r, files=False) for r in list_reports(connection)]

    @strawberry.field(description="Auditor: one period's report, its latest version unless version is given.")
    def transparency_report(self, info: strawberry.Info[RequestContext, None], period: str,
                            version: int | None = None) -> TransparencyReport | None:
        info.context.require(info)
        name = parse_period(period).name
        with info.context.services.db.engine.connect() as connection:
            stored = find_report(connection, name, version)
        return None if stored is None else _report(stored, files=True)
