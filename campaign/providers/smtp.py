"""SMTP (smtplib): STARTTLS or implicit TLS, authentication, one connection reused across batches.

Settings (environment only):
  SMTP_HOST (required), SMTP_PORT (default 587; 465 with SMTP_SECURITY=ssl; 25 with none),
  SMTP_SECURITY = starttls (default) | ssl (implicit TLS, "SMTPS") | none (plain; loopback relays only when
  a password is set), SMTP_USERNAME + SMTP_PASSWORD (both or neither), SMTP_CA_FILE (a PEM bundle to trust,
  for a relay with a private CA; the system store otherwise — certificates are always verified).

Each message is MAIL / RCPT / DATA on the open connection, so a refusal is known per recipient:
- the reply after the message body is read as smtplib.sendmail reads it: 250 sent, a 4xx fails that recipient
  (retryable), a 5xx rejects it; a 5xx to RCPT rejects it too; a MAIL FROM refusal (size, policy) fails it;
- every refused transaction ends with RSET (Postfix answers the next MAIL FROM with "503 nested MAIL command"
  otherwise); a 421 closes the connection instead, and the next message opens a new one;
- the server dropping the connection before DATA (idle timeout, 421) → reconnect once and carry on;
- the connection lost *during* DATA → that one delivery is unknown (the server may have queued it).
A worker thread keeps its own connection (`concurrency` connections at most).
Addresses go out with IDNA domains; a non-ASCII local part is sent with the SMTPUTF8 option (RFC 6531, UTF-8
headers) when the server advertises it, and rejected for that recipient alone when it does not.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from email.utils import parseaddr
from pathlib import Path

from campaign.config import Settings
from campaign.errors import AuthenticationFailed, ConfigurationError, Problem, TransientProviderError
from campaign.ledger.addresses import has_utf8_local, wire_address
from campaign.providers.base import Batch, Provider, Result
from campaign.providers.checks import is_loopback
from campaign.providers.outbox import mime_each

SECURITY_MODES = {"starttls": 587, "ssl": 465, "none": 25}
DISCONNECTED = (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError)


class SMTPProvider(Provider):
    name = "smtp"
    max_batch = 50  # messages per batch; each is its own SMTP transaction
    default_rate = 20.0  # conservative: relays throttle hard (raise `rate_limit` for your own MTA)
    default_concurrency = 1
    utf8_local = True  # when the server advertises SMTPUTF8 (checked per message; refused alone otherwise)

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ):
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.context = ssl.create_default_context(cafile=ca_file)
        self.timeout = timeout
        self._local = threading.local()
        self._open: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, campaign=None) -> SMTPProvider:
        host = settings.require("SMTP_HOST", "the SMTP server to send through")
        security = (settings.get("SMTP_SECURITY") or "starttls").lower()
        if security not in SECURITY_MODES:
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    "SMTP_SECURITY",
                    f"SMTP_SECURITY={security!r} is unknown",
                    "use starttls (port 587), ssl (port 465) or none (local relay)",
                )
            )
        port_text = settings.get("SMTP_PORT") or str(SECURITY_MODES[security])
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    "SMTP_PORT",
                    f"SMTP_PORT={port_text!r} is not a port number",
                    "use a number such as 587",
                )
            )
        username = settings.get("SMTP_USERNAME")
        password = settings.require("SMTP_PASSWORD", "the password for SMTP_USERNAME") if username else None
        if security == "none" and username and not is_loopback(host):
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    "SMTP_SECURITY",
                    "SMTP_SECURITY=none would send SMTP_PASSWORD unencrypted to " + host,
                    "use starttls or ssl",
                )
            )
        ca_file = settings.get("SMTP_CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            raise ConfigurationError(
                Problem(
                    "environment",
                    None,
                    "SMTP_CA_FILE",
                    f"{ca_file} does not exist",
                    "point SMTP_CA_FILE at a PEM certificate bundle",
                )
            )
        return cls(host, int(port_text), security=security, username=username, password=password, ca_file=ca_file)

    # -- connections --------------------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        conn: smtplib.SMTP
        try:
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self.context)
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as err:
            raise AuthenticationFailed(
                f"smtp: {where} refused the login ({err.smtp_code} {_text(err.smtp_error)}) — "
                "check SMTP_USERNAME and SMTP_PASSWORD",
                provider=self.name,
                status=err.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            raise AuthenticationFailed(
                f"smtp: {where} does not support what SMTP_SECURITY/SMTP_USERNAME ask for "
                f"({err}) — check SMTP_SECURITY (starttls, ssl or none) and SMTP_PORT",
                provider=self.name,
            ) from None
        except ssl.SSLCertVerificationError as err:
            raise TransientProviderError(
                f"smtp: the certificate of {where} is not trusted ({err.verify_message}) — "
                "check SMTP_HOST, or set SMTP_CA_FILE for a private CA",
                provider=self.name,
            ) from err
        except (OSError, smtplib.SMTPException) as err:
            raise TransientProviderError(f"smtp: cannot connect to {where}: {err}", provider=self.name) from err
        with self._lock:
            self._open.append(conn)
        return conn

    def _connection(self, *, fresh: bool = False) -> smtplib.SMTP:
        conn = getattr(self._local, "conn", None)
        if conn is not None and fresh:
            self._drop(conn)
            conn = None
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _drop(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
        try:
            conn.close()
        except OSError:
            pass
        self._local.conn = None

    # -- sending ------------------------------------------------------------------------------------
    def send_batch(self, batch: Batch) -> list[Result]:
        envelope_from = wire_address(parseaddr(batch.identity.from_)[1])
        results: list[Result] = []
        for message, data in mime_each(batch):
            rid = message.recipient.subscriber_id
            if isinstance(data, Result):
                results.append(data)
                continue
            try:
                results.append(
                    self._send_one(
                        envelope_from, message.recipient.wire_email, data, rid, message.headers["Message-ID"]
                    )
                )
            except TransientProviderError as err:
                if not results:
                    raise  # nothing sent yet: the sender retries the whole batch with backoff
                # Part of the batch went out: keep those, fail the rest (retryable with --retry-failed).
                done = {r.subscriber_id for r in results}
                results += [
                    Result(r.subscriber_id, False, error=str(err))
                    for r in batch.recipients
                    if r.subscriber_id not in done
                ]
                return results
        return results

    def _send_one(self, sender: str, to: str, data: bytes, subscriber_id: int, message_id: str) -> Result:
        for attempt in (1, 2):
            conn = self._connection(fresh=attempt == 2)
            options: list[str] = [f"SIZE={len(data)}"] if conn.has_extn("size") else []
            if has_utf8_local(to):
                if not conn.has_extn("smtputf8"):
                    return Result(
                        subscriber_id,
                        False,
                        error=f"not sent: {self.host} does not advertise SMTPUTF8, which {to} (a non-ASCII local "
                        "part) needs",
                        permanent=True,
                    )
                options += ["SMTPUTF8", *(["BODY=8BITMIME"] if conn.has_extn("8bitmime") else [])]
            try:
                code, reply = conn.mail(sender, options)
                if code == 250:
                    code, reply = conn.rcpt(to)
                    step = "RCPT TO"
                else:
                    step = "MAIL FROM"
            except DISCONNECTED:
                if attempt == 2:
                    raise TransientProviderError(
                        f"smtp: {self.host}:{self.port} keeps dropping the connection", provider=self.name
                    ) from None
                continue  # dropped before DATA: nothing was queued, reconnect and retry
            if code == 421 and attempt == 1:
                self._drop(conn)
                continue  # "closing connection": reconnect and try again
            if code not in (250, 251):
                self._end_transaction(conn, code)
                # a MAIL FROM refusal is about this message or the relay (size, policy): retryable, not the reader's
                permanent = step == "RCPT TO" and 500 <= code < 600
                return Result(
                    subscriber_id, False, error=f"smtp {step} refused: {code} {_text(reply)}", permanent=permanent
                )
            return self._data(conn, data, subscriber_id, message_id)
        raise TransientProviderError(f"smtp: {self.host}:{self.port} keeps closing the connection", provider=self.name)

    def _data(self, conn: smtplib.SMTP, data: bytes, subscriber_id: int, message_id: str) -> Result:
        """DATA and the body; the reply after the body decides (smtplib.sendmail's rule): 250 is accepted, 4xx
        failed (retryable), 5xx rejected; a 421 or any refusal ends the transaction (RSET, or a new connection);
        a connection lost before that reply leaves the message unknown (the server may have queued it)."""
        reply: bytes | str
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as err:  # DATA itself refused (before the body): nothing was queued
            code, reply = err.smtp_code, err.smtp_error
        except DISCONNECTED as err:
            self._drop(conn)
            return Result(
                subscriber_id,
                False,
                error=f"smtp: connection lost during DATA ({err}); the server may have queued the message",
                unknown=True,
            )
        if code == 250:
            return Result(subscriber_id, True, message_id=message_id)
        self._end_transaction(conn, code)
        return Result(
            subscriber_id,
            False,
            error=f"smtp DATA refused: {code} {_text(reply)}",
            permanent=500 <= code < 600,
        )

    def _end_transaction(self, conn: smtplib.SMTP, code: int) -> None:
        """After a refusal: RSET, so the next MAIL FROM is not a "nested MAIL command" (Postfix's 503); a 421
        closes the connection (the next message opens a new one), and so does a reply smtplib could not read (-1)."""
        if code in (421, -1):
            self._drop(conn)
            return
        try:
            conn.rset()
        except (*DISCONNECTED, smtplib.SMTPException):
            self._drop(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _text(reply) -> str:
    return reply.decode("utf-8", "replace").strip() if isinstance(reply, bytes) else str(reply)
