"""subject events: a subject's IP events, devices and username records as sealed rows of their own,
found by time range; ``subjects.layout`` tells a converted head (2) from a whole-history document (1)

The rows of a database written before this revision are converted by `gateway init`, which holds
the at-rest key this migration never sees (gateway/subjects/store.py ``convert_documents``); until
then the store reads a layout-1 subject from its document, as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it, with a constant default): a batch copy of the table would
    # drop it, which the foreign keys of subject_index refuse.
    op.add_column("subjects", sa.Column("layout", sa.SmallInteger(), nullable=False, server_default=sa.text("1")))
    op.create_table(
        "subject_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(length=64), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("span", sa.SmallInteger(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_subject_events_window", "subject_events", ["subject_id", "kind", "span", "first_seen"])
    op.create_index("ix_subject_events_expiry", "subject_events", ["kind", "last_seen"])


def downgrade() -> None:
    # Only a database whose subjects are all still layout 1 goes back whole: converted history is dropped.
    op.drop_index("ix_subject_events_expiry", table_name="subject_events")
    op.drop_index("ix_subject_events_window", table_name="subject_events")
    op.drop_table("subject_events")
    op.execute("ALTER TABLE subjects DROP COLUMN layout")  # SQLite 3.35+ and PostgreSQL alike
