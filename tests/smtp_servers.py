"""A local SMTP server (aiosmtpd, plain, 127.0.0.1) whose reply after the message body is chosen per recipient.

It behaves like Postfix where it matters here: after a refused transaction the client must send RSET, or the
next MAIL FROM is answered `503 5.5.1 Error: nested MAIL command` (what the issue saw from Postfix 3.7 when
the client ignored the reply after DATA).
"""

from __future__ import annotations

import socket
from collections import defaultdict
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

DROP = "drop"  # instead of a reply: close the connection after the body (the outcome is then unknown)


class RefusingMailbox:
    """aiosmtpd handler. `after_data[address]` is a list of replies used in turn for that address's next
    transactions (e.g. ["451 4.3.0 try again later"]: refused once, accepted after that)."""

    def __init__(self, after_data: dict[str, list[str]] | None = None):
        self.after_data: dict[str, list[str]] = defaultdict(list, {k: list(v) for k, v in (after_data or {}).items()})
        self.messages: list[tuple[list[str], bytes, int]] = []  # (rcpts, data, connection) of accepted messages
        self.refused: list[tuple[str, str]] = []  # (address, reply)
        self.nested: int = 0  # MAIL FROM commands that came without the RSET a refusal needs
        self.rsets: int = 0
        self._dirty: set[int] = set()  # sessions with a refused transaction not RSET yet

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if id(session) in self._dirty:
            self.nested += 1
            return "503 5.5.1 Error: nested MAIL command"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RSET(self, server, session, envelope):
        self.rsets += 1
        self._dirty.discard(id(session))
        return "250 2.0.0 Ok"

    async def handle_DATA(self, server, session, envelope):
        rcpts = list(envelope.rcpt_tos)
        planned = self.after_data.get(rcpts[0]) if rcpts else None
        if planned:
            reply = planned.pop(0)
            if reply == DROP:
                server.transport.close()
                return "421 4.4.2 gone"  # never reaches the client: the connection is closed first
            self.refused.append((rcpts[0], reply))
            self._dirty.add(id(session))
            return reply
        self.messages.append((rcpts, envelope.content, id(session)))
        return "250 2.0.0 Ok: queued"

    def recipients(self) -> list[str]:
        return [r for rcpts, _, _ in self.messages for r in rcpts]

    def message_ids(self) -> list[str]:
        return [message_from_bytes(data, policy=policy.default)["Message-ID"] for _, data, _ in self.messages]

    def connections(self) -> int:
        return len({conn for *_, conn in self.messages})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSMTP:
    """`with LocalSMTP(mailbox) as server:` a plain SMTP server on 127.0.0.1; `server.env` points campaign at it."""

    def __init__(self, mailbox: RefusingMailbox, *, data_size_limit: int | None = None):
        self.mailbox = mailbox
        self.port = free_port()
        kwargs = {} if data_size_limit is None else {"data_size_limit": data_size_limit}
        self.controller = Controller(mailbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> LocalSMTP:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def env(self) -> dict[str, str]:
        return {
            "CAMPAIGN_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
        }
