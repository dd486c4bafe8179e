"""the scheduler: due times on schedules and the per-profile run lock

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import postroom.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_run_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_run_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_process_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_schedules_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_schedules_last_process_id_processes"),
            "processes",
            ["last_process_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "profile_runs",
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("schedule_id", sa.String(length=36), nullable=True),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("acquired_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", postroom.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_profile_runs_profile_id_profiles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_profile_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_profile_runs")),
    )
    with op.batch_alter_table("profile_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profile_runs_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_profile_runs_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("profile_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_runs_expires_at"))
        batch_op.drop_index(batch_op.f("ix_profile_runs_tenant_id"))
    op.drop_table("profile_runs")

    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_schedules_last_process_id_processes"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_schedules_next_run_at"))
        batch_op.drop_column("last_process_id")
        batch_op.drop_column("last_run_at")
        batch_op.drop_column("next_run_at")
