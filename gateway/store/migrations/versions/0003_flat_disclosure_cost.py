"""flat disclosure cost: a verifiable per-order count, a seekable disclosure index, state versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get no MAC: their count is taken from the log until the writer next charges them.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("usage_mac", sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_order_decision")
        batch_op.create_index("ix_audit_entries_order_decision_idx", ["order_id", "decision", "idx"], unique=False)
    versions = op.create_table(
        "state_versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(versions, [{"name": "reviews", "version": 0}])


def downgrade() -> None:
    op.drop_table("state_versions")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_order_decision_idx")
        batch_op.create_index("ix_audit_entries_order_decision", ["order_id", "decision"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("usage_mac")
        batch_op.drop_column("usage_index")
