"""The delivery queue: `queued` rows with their crisis variant, claimed by workers under a lease.

deliveries gains `worker_id` (host:pid:random of the claiming worker), `lease_until` (when its claim lapses
unless renewed) and `variant`; the (day, status, variant, subscriber_id) index makes a claim an index range
scan and replaces (day, status). `rate_limits` is the token bucket all workers of a send share.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("deliveries")}
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(120)))
        batch.add_column(sa.Column("lease_until", sa.DateTime()))
        batch.add_column(sa.Column("variant", sa.String(16)))
        if "ix_deliveries_day_status" in existing:  # a 0.1 database made by create_all may lack it
            batch.drop_index("ix_deliveries_day_status")
        batch.create_index("ix_deliveries_queue", ["day", "status", "variant", "subscriber_id"])
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_queue")
        batch.create_index("ix_deliveries_day_status", ["day", "status"])
        batch.drop_column("variant")
        batch.drop_column("lease_until")
        batch.drop_column("worker_id")
