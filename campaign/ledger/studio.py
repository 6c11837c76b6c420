"""`StudioLedger`: the studio's tables (accounts and sessions, revisions and approvals, the audit log) over the
same engine as the `Store` — kept apart from `Store` so the send path never sees them."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from campaign.ledger.accounts import Accounts
from campaign.ledger.audit import AuditLog
from campaign.ledger.revisions import Revisions


class StudioLedger(Accounts, Revisions, AuditLog):
    def __init__(self, engine: Engine):
        self.engine = engine
