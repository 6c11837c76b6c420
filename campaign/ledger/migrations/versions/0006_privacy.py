"""Readers' privacy: preferences, consent on record, erasure, and counts that follow nobody.

subscribers gains `format` (NULL: HTML and text; "text": the text part only), the consent record
(`consent_at`: when the sign-up form was sent, `consent_version`: the form's wording version, `confirmed_at`:
when the double opt-in link was followed) and `erased_at` (an erased row keeps only its id and state, so the
deliveries stay counted, linked to nobody). `erased_addresses` holds the keyed hash (HMAC-SHA256 with
CAMPAIGN_SECRET_KEY) of each erased address, so it is never imported or sent to again without a new confirmed
sign-up. `engagement_counts` holds the aggregate counts per day (clicks per link, opens per variant, provider
events): never a subscriber.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("format", sa.String(8)))
        batch.add_column(sa.Column("consent_at", sa.DateTime()))
        batch.add_column(sa.Column("consent_version", sa.String(80)))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime()))
        batch.add_column(sa.Column("erased_at", sa.DateTime()))
    op.create_table(
        "erased_addresses",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "engagement_counts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engagement_counts")
    op.drop_table("erased_addresses")
    with op.batch_alter_table("subscribers") as batch:
        for column in ("erased_at", "confirmed_at", "consent_version", "consent_at", "format"):
            batch.drop_column(column)
