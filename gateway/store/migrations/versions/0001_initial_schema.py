"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("request_id", name="uq_audit_entries_request_id"),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_decision"), ["decision"], unique=False)
        batch_op.create_index("ix_audit_entries_order_decision", ["order_id", "decision"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_principal"), ["principal"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_time_us"), ["time_us"], unique=False)

    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("sealing_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "seen_tokens",
        sa.Column("issuer", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti"),
    )
    with op.batch_alter_table("seen_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_tokens_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "subjects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "legal_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("selectors_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("resolved_subject_ids", sa.Text(), nullable=False),
        sa.Column("unresolved_selectors", sa.Integer(), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["principals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_requests_authority_id"), ["authority_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_requests_status"), ["status"], unique=False)

    op.create_table(
        "principal_keys",
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
        ),
        sa.PrimaryKeyConstraint("principal_id", "kid"),
    )
    op.create_table(
        "subject_index",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("kind", "digest"),
    )
    with op.batch_alter_table("subject_index", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_index_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("queries_used", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["principals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["legal_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_authority_id"), ["authority_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_request_id"), ["request_id"], unique=False)

    op.create_table(
        "order_approvals",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["principals.id"],
        ),
        sa.PrimaryKeyConstraint("order_id", "reviewer_id"),
    )


def downgrade() -> None:
    op.drop_table("order_approvals")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_request_id"))
        batch_op.drop_index(batch_op.f("ix_orders_authority_id"))

    op.drop_table("orders")
    with op.batch_alter_table("subject_index", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_index_subject_id"))

    op.drop_table("subject_index")
    op.drop_table("principal_keys")
    with op.batch_alter_table("legal_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_requests_status"))
        batch_op.drop_index(batch_op.f("ix_legal_requests_authority_id"))

    op.drop_table("legal_requests")
    op.drop_table("subjects")
    with op.batch_alter_table("seen_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_tokens_expires_at"))

    op.drop_table("seen_tokens")
    op.drop_table("principals")
    op.drop_table("audit_nodes")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_time_us"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_principal"))
        batch_op.drop_index("ix_audit_entries_order_decision")
        batch_op.drop_index(batch_op.f("ix_audit_entries_decision"))

    op.drop_table("audit_entries")
    op.drop_table("audit_checkpoints")
