"""A real studio app over a campaign folder copy and its SQLite (or PostgreSQL) ledger, driven through Flask's
test client (real requests through the whole app: guard, CSRF, ledger, files) — and signing in as a user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from campaign.ledger.states import Role
from campaign.ledger.store import Store
from campaign.ledger.studio import StudioLedger
from campaign.studio.app import create_studio_app
from tests.conftest import CampaignDir

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


@dataclass
class Studio:
    app: Flask
    store: Store
    ledger: StudioLedger
    campaign: CampaignDir

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def add_user(self, email: str, role: str = "editor"):
        return self.ledger.add_user(email, Role(role), at=datetime.now(UTC))[0]

    def link_token(self, email: str) -> str:
        import secrets

        user = self.ledger.user_by_email(email)
        assert user is not None
        token = secrets.token_urlsafe(32)
        self.ledger.add_signin_link(user.id, token, at=datetime.now(UTC))
        return token

    def signed_in(self, email: str, role: str = "editor") -> tuple[FlaskClient, str]:
        """A client signed in as `email` (added with `role` if new) and its CSRF token."""
        if self.ledger.user_by_email(email) is None:
            self.add_user(email, role)
        client = self.client()
        token = self.link_token(email)
        page = client.get(f"/studio/signin/{token}")
        assert page.status_code == 200, page.text
        answer = client.post(f"/studio/signin/{token}", data={"csrf_token": csrf_of(page.text)})
        assert answer.status_code == 303, answer.text
        session = client.get("/studio/api/session").get_json()
        return client, session["csrf_token"]

    @property
    def schedule(self):
        return self.campaign.root / "schedule.yaml"


def make_studio(campaign: CampaignDir, **kwargs) -> Studio:
    store = campaign.store()
    app = create_studio_app(campaign.settings, store, **kwargs)
    app.testing = False
    return Studio(app, store, StudioLedger(store.engine), campaign)
