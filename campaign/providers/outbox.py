"""The built-in `outbox` provider: one RFC 5322 `.eml` file per recipient, for previews and rehearsals.

Files land in `outbox/YYYY-MM-DD/` (or `$CAMPAIGN_OUTBOX`). Each file is written to a temporary name and
renamed, so a crash never leaves a half-written message.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from campaign.providers.base import Batch, OutgoingMessage, Provider, Result

# RFC 5322 allows lines up to 998 characters. With the default 78, a long List-Unsubscribe URL is folded right
# after the colon, and some parsers then read the value with a leading space.
POLICY = SMTP.clone(max_line_length=998)


def build_mime(message: OutgoingMessage, from_: str) -> EmailMessage:
    """multipart/alternative: text first, HTML last (clients show the last part they can render)."""
    mime = EmailMessage(policy=POLICY)
    mime["From"] = from_
    mime["To"] = message.recipient.address
    mime["Subject"] = message.subject
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


class OutboxProvider(Provider):
    name = "outbox"
    max_batch = 500
    default_rate = 1_000_000.0
    default_concurrency = 1

    def __init__(self, folder: Path):
        self.folder = folder

    def send_batch(self, batch: Batch) -> list[Result]:
        day_folder = self.folder / batch.issue.day.isoformat()
        day_folder.mkdir(parents=True, exist_ok=True)
        results = []
        for message in batch.messages():
            mime = build_mime(message, batch.identity.from_)
            safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", message.recipient.email)
            stem = f"{message.recipient.subscriber_id:07d}-{safe}"
            if batch.subject_prefix:
                stem = f"test-{stem}"
            path = day_folder / f"{stem}.eml"
            tmp = path.with_suffix(".eml.tmp")
            tmp.write_bytes(mime.as_bytes())
            os.replace(tmp, path)
            results.append(Result(message.recipient.subscriber_id, True, message_id=str(path.name)))
        return results
