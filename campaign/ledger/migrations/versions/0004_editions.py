"""Stored renders: a day's verified email (every crisis variant, the web version, the recipient-independent
headers and provider settings) as JSON in `issues.edition`, written once when the day's send starts
(series/edition.py), so every host sends the same email and later template edits never change the day.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("edition", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("edition")
