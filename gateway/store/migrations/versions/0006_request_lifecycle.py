"""request lifecycle: emergency continuations, preservation holds, user notices sent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_continuations",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "order_continuation_approvals",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["order_continuations.order_id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["principals.id"]),
        sa.PrimaryKeyConstraint("order_id", "reviewer_id"),
    )
    op.create_table(
        "preservations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("selectors_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("subject_ids", sa.Text(), nullable=False),
        sa.Column("unresolved_selectors", sa.Integer(), nullable=False),
        sa.Column("requested_until", sa.BigInteger(), nullable=False),
        sa.Column("granted_until", sa.BigInteger(), nullable=True),
        sa.Column("extended_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["principals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("preservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preservations_authority_id"), ["authority_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_preservations_status"), ["status"], unique=False)
    op.create_table(
        "notices_sent",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("notices_sent")
    with op.batch_alter_table("preservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preservations_status"))
        batch_op.drop_index(batch_op.f("ix_preservations_authority_id"))
    op.drop_table("preservations")
    op.drop_table("order_continuation_approvals")
    op.drop_table("order_continuations")
