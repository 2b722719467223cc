"""transparency reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transparency_reports",
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("banding", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("report_csv", sa.Text(), nullable=False),
        sa.Column("report_html", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period", "version"),
    )


def downgrade() -> None:
    op.drop_table("transparency_reports")
