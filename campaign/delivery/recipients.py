"""Each recipient of a batch: their address, greeting name and their own links (the one-click unsubscribe and
the preferences page, each a signed token), and whether the provider can take them at all."""

from __future__ import annotations

from datetime import date

from campaign.config import Settings
from campaign.delivery.tokens import Tokens
from campaign.ledger.addresses import clean_name
from campaign.providers.base import Provider, Recipient, Result
from campaign.series.links import preferences_url, unsubscribe_url


class Recipients:
    def __init__(self, settings: Settings, provider: Provider) -> None:
        self.settings = settings
        self.provider = provider
        self.tokens = Tokens(settings.secret_key)

    def unsubscribe_link(self, subscriber_id: int) -> str:
        return unsubscribe_url(self.settings.public_url, self.tokens.unsubscribe(subscriber_id))

    def preferences_link(self, subscriber_id: int, day: date) -> str:
        return preferences_url(self.settings.public_url, self.tokens.preferences(subscriber_id, day))

    def recipient(self, row, day: date) -> Recipient:
        try:
            name = clean_name(row.name)
        except ValueError:
            name = None
        return Recipient(row.id, row.email, name, self.unsubscribe_link(row.id), self.preferences_link(row.id, day))

    def screen(self, rows: list, day: date) -> tuple[list[Recipient], list[Result]]:
        """Recipients the provider can take, and a rejection for each one it cannot (one bad address never
        fails its batch): nothing about them is sent, so they are `rejected` with the reason."""
        ok: list[Recipient] = []
        refused: list[Result] = []
        for row in rows:
            recipient = self.recipient(row, day)
            why = self.provider.refusal(recipient)
            if why is None:
                ok.append(recipient)
            else:
                refused.append(Result(row.id, False, error=f"not sent: {why}", permanent=True))
        return ok, refused
