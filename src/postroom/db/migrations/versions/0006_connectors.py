"""connectors, their lease, and the claim and delivery columns of filings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:02:41.512007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import postroom.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=12), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("path_roots", sa.JSON(), nullable=False),
        sa.Column("created_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("revoked_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column("instance_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_connectors_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("key", name=op.f("uq_connectors_key")),
        sa.UniqueConstraint("tenant_id", "name_key", name=op.f("uq_connectors_tenant_id")),
    )
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connectors_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "connector_leases",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("connector_id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_leases_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_connector_leases_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "scope", name=op.f("pk_connector_leases")),
    )
    with op.batch_alter_table("connector_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connector_leases_connector_id"), ["connector_id"], unique=False)

    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", postroom.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_filings_claimed_by_connectors"), "connectors", ["claimed_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_filings_claimed_by_connectors"), type_="foreignkey")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("sha256")
        batch_op.drop_column("size")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("connector_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_leases_connector_id"))
    op.drop_table("connector_leases")

    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connectors_tenant_id"))
    op.drop_table("connectors")
