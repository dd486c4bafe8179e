"""filing rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:04:12.118042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import postroom.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "filing_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("location_id", sa.String(length=36), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("created_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", postroom.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_filing_rules_location_id_locations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_filing_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filing_rules")),
        sa.UniqueConstraint("tenant_id", "name_key", name=op.f("uq_filing_rules_tenant_id")),
    )
    with op.batch_alter_table("filing_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filing_rules_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_filing_rules_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_filing_rules_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("filing_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filing_rules_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_filing_rules_name_key"))
        batch_op.drop_index(batch_op.f("ix_filing_rules_location_id"))

    op.drop_table("filing_rules")
