"""principals' own key changes: a token key's end of overlap, the entry and signed statement that
added a key through the API, and the entry that proves a sealing key the authority set itself

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("principal_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_after", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("audit_request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("proof", sa.Text(), nullable=True))
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealing_audit_request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy: copying ``principals`` would
    # drop a table every other table's foreign keys name, which SQLite refuses.
    op.drop_column("principals", "sealing_audit_request_id")
    for column in ("proof", "audit_request_id", "not_after"):
        op.drop_column("principal_keys", column)
