"""The "Download my data" email (GDPR Art. 15): a signed link, valid a day, to the reader's data as JSON.

Sent like the sign-up confirmation (same pipeline: crisis block, disclaimer and footer; a background pool so
the page answers at once), to the reader's own address only — the page never shows the data itself, so a
forwarded "Manage your emails" link does not hand the data to someone else.
"""

from __future__ import annotations

from campaign.delivery.confirm_mail import ConfirmationMailer
from campaign.ledger.subscribers import Subscriber

TEMPLATE = "data_link"


def export_url(public_url: str, token: str) -> str:
    return f"{public_url}/export/{token}"


class DataLinkMailer(ConfirmationMailer):
    template = TEMPLATE
    outbox_subfolder = "data-requests"
    event = "data_link"
    preheader = "The link works for 24 hours."

    def subject(self, name: str) -> str:
        return f"Your data from {name}"

    def link(self, subscriber: Subscriber) -> str:
        return export_url(self.settings.public_url, self.tokens.export(subscriber.id))
