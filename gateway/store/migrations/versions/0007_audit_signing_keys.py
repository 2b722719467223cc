"""audit signing keys: the log's key history, checked by every checkpoint insert

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_signing_keys",
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("from_size", sa.BigInteger(), nullable=False),
        sa.Column("until_size", sa.BigInteger(), nullable=True),
        sa.Column("previous_key", sa.String(length=64), nullable=True),
        sa.Column("handover", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("public_key"),
    )


def downgrade() -> None:
    op.drop_table("audit_signing_keys")
