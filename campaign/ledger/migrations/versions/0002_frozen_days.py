"""Frozen days: what each day was when its send started (its blocks, number, total, subject, preheader,
note), as JSON in `issues.frozen`, so later edits never re-split or relabel a day already sent.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("frozen", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("frozen")
