"""The schema of campaign 0.1, exactly: subscribers, issues, deliveries, events, state, locks, signups,
webhook_tokens, welcomes.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _subscriber_and_issue_tables()
    _ledger_tables()


def _subscriber_and_issue_tables() -> None:
    """subscribers, issues, deliveries."""
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("country", sa.String(2)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(500)),
        sa.Column("status_changed_at", sa.DateTime()),
        sa.Column("paused_until", sa.DateTime()),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.UniqueConstraint("email"),
    )
    op.create_index("ix_subscribers_status_id", "subscribers", ["status", "id"])
    op.create_table(
        "issues",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("web_html", sa.Text()),
        sa.Column("first_sent_at", sa.DateTime()),
        sa.Column("state", sa.String(16)),
        sa.Column("note", sa.String(500)),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(80)),
        sa.Column("provider", sa.String(16)),
        sa.Column("provider_message_id", sa.String(300)),
        sa.Column("error", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("day", "subscriber_id", name="uq_deliveries_day_subscriber"),
    )
    op.create_index("ix_deliveries_day_status", "deliveries", ["day", "status"])
    op.create_index("ix_deliveries_batch", "deliveries", ["batch_id"])


def _ledger_tables() -> None:
    """events, state, locks, signups, webhook_tokens, welcomes."""
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("subscriber_id", sa.Integer()),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "signups",
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id"), primary_key=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("provider", sa.String(16), primary_key=True),
        sa.Column("token", sa.String(200), primary_key=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "welcomes",
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(300)),
        sa.Column("error", sa.Text()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("welcomes", "webhook_tokens", "signups", "locks", "state", "events", "deliveries", "issues"):
        op.drop_table(table)
    op.drop_table("subscribers")
