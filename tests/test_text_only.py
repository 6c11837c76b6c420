"""A reader who chose plain text gets the text part alone through every provider: the request each HTTP
provider would make for a "+text" queue variant carries no HTML part (and the merge links are filled)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from campaign.delivery.editions import Editions
from campaign.delivery.identity import identity_for
from campaign.providers.base import Batch, Recipient
from campaign.providers.mailgun import MailgunProvider
from campaign.providers.outbox import OutboxProvider
from campaign.providers.postmark import PostmarkProvider
from campaign.providers.resend import ResendProvider
from campaign.providers.sendgrid import SendGridProvider

DAY = date(2027, 9, 3)
UNSUB, PREFS = "https://news.example.org/unsubscribe/U", "https://news.example.org/preferences/P"


def _batch(campaign_dir, variant: str) -> Batch:
    project, store = campaign_dir.project(), campaign_dir.store()
    try:  # the day's stored edition, as a send merges from it
        editions = Editions(store, project)
        editions.start(DAY, at=project.schedule.send_at(DAY))
        issue = editions.issue(DAY, variant)
    finally:
        store.close()
    recipient = Recipient(7, "reader@example.org", "Ann", UNSUB, PREFS)
    return Batch("b-1", issue, (recipient,), identity_for(project), sent_at=project.schedule.send_at(DAY))


@pytest.mark.parametrize("text_only", [True, False])
def test_every_provider_sends_the_text_part_alone_for_a_text_variant(campaign_dir, tmp_path, text_only):
    variant = campaign_dir.project().default_variant + ("+text" if text_only else "")
    batch = _batch(campaign_dir, variant)
    assert (batch.issue.html == "") == text_only and "Medical disclaimer." in batch.issue.text

    (message,) = json.loads(PostmarkProvider("k", "http://127.0.0.1:9").build_request(batch).body)
    assert ("HtmlBody" in message) != text_only and PREFS in message["TextBody"]

    body = json.loads(SendGridProvider("k", "http://127.0.0.1:9").build_request(batch).body)
    assert [c["type"] for c in body["content"]] == ["text/plain"] + ([] if text_only else ["text/html"])

    (email,) = json.loads(ResendProvider("re_k", "http://127.0.0.1:9").build_request(batch).body)
    assert ("html" in email) != text_only and PREFS in email["text"]

    fields = dict(MailgunProvider("k", "mg.example.org", "http://127.0.0.1:9").build_request(batch).files or [])
    assert ("html" in fields) != text_only and PREFS in fields["text"][1]

    OutboxProvider(tmp_path).send_batch(batch)
    (eml,) = tmp_path.rglob("*.eml")
    raw = eml.read_bytes()
    assert (b"text/html" in raw) != text_only
    assert (b"multipart/alternative" in raw) != text_only
