"""the authority's side of a request: a request status wide enough for NEEDS_CLARIFICATION and
WITHDRAWN, and the request version each order was drafted on (docs/PROTOCOL.md §17)

A request's versions and its clarification thread are kept in the request's own ``details`` and
sealed column (the thread's texts sealed like the justification), so they need no table.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite does not hold a VARCHAR to its length, and widening it there would copy the table,
    # which the orders' foreign key to it forbids once requests exist: only other databases widen.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("legal_requests", "status", existing_type=sa.String(length=16), type_=sa.String(length=32),
                        existing_nullable=False)
    # NULL: drafted before requests had versions, on the request's first one. Added in place, not
    # by copying the table (approvals and continuations refer to it).
    op.add_column("orders", sa.Column("request_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "request_version")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("legal_requests", "status", existing_type=sa.String(length=32), type_=sa.String(length=16),
                        existing_nullable=False)
