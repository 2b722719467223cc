"""notifications: the events outbox, an authority's webhook URL, and the feed's sequence counter

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ALTER, not a batch copy: other tables' foreign keys point at principals.
    op.add_column("principals", sa.Column("webhook_url", sa.String(length=2048), nullable=True))
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("once_key", sa.String(length=200), nullable=True),
        sa.Column("entry", sa.String(length=64), nullable=True),
        sa.Column("feed_seq", sa.BigInteger(), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("last_outcome", sa.String(length=64), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["principals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("once_key", name="uq_events_once_key"),
        sa.UniqueConstraint("feed_seq", name="uq_events_feed_seq"),
    )
    op.create_index("ix_events_authority_feed", "events", ["authority_id", "feed_seq"], unique=False)
    op.create_index("ix_events_delivery_due", "events", ["delivery", "next_attempt_at"], unique=False)
    versions = sa.table("state_versions", sa.column("name", sa.String), sa.column("version", sa.BigInteger))
    op.bulk_insert(versions, [{"name": "events", "version": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM state_versions WHERE name = 'events'")
    op.drop_index("ix_events_delivery_due", table_name="events")
    op.drop_index("ix_events_authority_feed", table_name="events")
    op.drop_table("events")
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place; a batch copy of principals
    # would drop the table that other tables' foreign keys point at.
    op.execute("ALTER TABLE principals DROP COLUMN webhook_url")
