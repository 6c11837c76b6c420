"""The built-in `outbox` provider: one RFC 5322 `.eml` file per recipient, for previews and rehearsals.

Files land in `outbox/YYYY-MM-DD/` (or `$CAMPAIGN_OUTBOX`). Each file is written to a temporary name and
renamed, so a crash never leaves a half-written message. A folder that cannot be written (permissions, a
full disk) is a `LocalSendError`: the files already written count as sent, the rest of the batch is
released and the send stops. The MIME built here is also what SMTP sends (`build_mime`, `mime_bytes`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from campaign.errors import LocalSendError
from campaign.ledger.addresses import has_utf8_local
from campaign.providers.base import Batch, OutgoingMessage, Provider, Result

# Bodies: quoted-printable with lines of at most 76 characters (RFC 2045; SpamAssassin MIME_QP_LONG_LINE).
BODY_POLICY = SMTP.clone(max_line_length=76)
# Headers: RFC 5322 allows lines up to 998 characters. With the default 78, a long List-Unsubscribe URL is
# folded right after the colon, and some parsers then read the value with a leading space.
POLICY = SMTP.clone(max_line_length=998)
# A recipient with a non-ASCII local part: UTF-8 headers (RFC 6532), sent only with SMTPUTF8 (RFC 6531).
UTF8_POLICY = POLICY.clone(utf8=True)


def build_mime(message: OutgoingMessage, from_: str) -> EmailMessage:
    """multipart/alternative: text first, HTML last (clients show the last part they can render).

    The To header is an `email.headerregistry.Address` built from the cleaned name and the IDNA address, so
    the email package quotes and encodes the name; nothing raw reaches a header. Serialise with `mime_bytes`.
    """
    mime = EmailMessage(policy=BODY_POLICY)
    mime["From"] = from_
    mime["To"] = message.recipient.header_address()
    mime["Subject"] = message.subject
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if message.html:  # a text-only issue (a reader's preference): text/plain alone
        mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime


def mime_bytes(message: OutgoingMessage, from_: str) -> bytes:
    """The message as sent: headers unfolded up to 998 characters; UTF-8 headers only for an SMTPUTF8 address."""
    utf8 = has_utf8_local(message.recipient.email)
    return build_mime(message, from_).as_bytes(policy=UTF8_POLICY if utf8 else POLICY)


def mime_each(batch: Batch) -> Iterator[tuple[OutgoingMessage, bytes | Result]]:
    """Each message of the batch as MIME bytes — or, when this one message cannot be built, its rejection (one
    bad recipient fails alone; the rest of the batch goes on)."""
    for message in batch.messages():
        try:
            yield message, mime_bytes(message, batch.identity.from_)
        except (ValueError, TypeError, UnicodeError) as err:
            error = f"not sent: cannot build the message: {err}"
            yield message, Result(message.recipient.subscriber_id, False, error=error, permanent=True)


class OutboxProvider(Provider):
    name = "outbox"
    max_batch = 500
    default_rate = 1_000_000.0
    default_concurrency = 1
    utf8_local = True  # files, not a transport: an SMTPUTF8 message is written as it would be sent

    def __init__(self, folder: Path):
        self.folder = folder

    def send_batch(self, batch: Batch) -> list[Result]:
        day_folder = self.folder / batch.issue.day.isoformat()
        results: list[Result] = []
        try:
            day_folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LocalSendError(f"outbox: cannot create {day_folder}: {err.strerror or err}") from err
        for message, data in mime_each(batch):
            rid = message.recipient.subscriber_id
            if isinstance(data, Result):
                results.append(data)
                continue
            safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", message.recipient.email)
            stem = f"{rid:07d}-{safe}"
            if batch.subject_prefix:
                stem = f"test-{stem}"
            path = day_folder / f"{stem}.eml"
            tmp = path.with_suffix(".eml.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            except OSError as err:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                raise LocalSendError(
                    f"outbox: cannot write {path}: {err.strerror or err} — check that {self.folder} is writable "
                    "and the disk has room, then send again (the rest of the batch is still owed)",
                    done=results,
                ) from err
            results.append(Result(rid, True, message_id=str(path.name)))
        return results
