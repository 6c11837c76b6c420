"""Network probes: prove the provider credential with each provider's documented read-only endpoint.

  postmark  GET /server (X-Postmark-Server-Token), then GET /message-streams/{stream}: the broadcast stream
            must let us manage unsubscribes (UnsubscribeHandlingType "None"), or Postmark replaces our
            one-click List-Unsubscribe and adds its own footer link
  sendgrid  GET /v3/scopes: the key must hold mail.send
  mailgun   GET /v3/domains/{MAILGUN_DOMAIN}: the domain exists in this region and is active
  resend    GET /domains: the From domain is verified (a send-only key cannot list domains: accepted)
  smtp      connect, EHLO, STARTTLS (when SMTP_SECURITY asks for it), AUTH (when a user is set), QUIT

Nothing is sent. Every failure becomes a `Problem` naming the setting to fix.
"""

from __future__ import annotations

import smtplib
import ssl
from email.utils import parseaddr
from urllib.parse import quote

import requests

from campaign.config import Settings
from campaign.errors import Problem
from campaign.preflight.report import Report
from campaign.series.project import Project

TIMEOUT = (5.0, 15.0)
POSTMARK_STREAM_FIX = (
    "in Postmark open the stream → Settings → Subscription Management and choose “Manage unsubscribes on your "
    "own” (Postmark support enables the option on request), or set campaign.message_stream to a stream that has it"
)


def _env(field: str, message: str, fix: str) -> Problem:
    return Problem("environment", None, field, message, fix)


def _text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    if isinstance(body, dict):
        for key in ("Message", "message", "errors", "error"):
            if key in body:
                return " ".join(str(body[key]).split())[:200]
    return " ".join(str(body).split())[:200]


def _get(report: Report, provider, path: str, credential: str) -> requests.Response | None:
    """GET a read-only endpoint; None (with the problem recorded) unless it answered 200."""
    url = provider.base_url + path
    try:
        response = provider.session.get(url, timeout=TIMEOUT)
    except requests.RequestException as err:
        report.error(
            _env(
                provider.api_url_variable or credential,
                f"cannot reach {provider.name} at {provider.base_url} ({type(err).__name__}: {err})",
                "check the network (or the *_API_URL override); `campaign check --offline` skips network checks",
            )
        )
        return None
    if response.status_code in (401, 403) or (
        provider.name == "postmark"
        and response.status_code == 422
        and '"ErrorCode":10' in response.text.replace(" ", "")
    ):
        report.error(
            _env(
                credential,
                f"{provider.name} rejected {credential} (HTTP {response.status_code} from GET {path}: {_text(response)})",
                f"copy a valid key from your {provider.name} account into {credential}",
            )
        )
        return None
    if response.status_code != 200:
        report.error(
            _env(
                credential,
                f"{provider.name} answered HTTP {response.status_code} to GET {path}: {_text(response)}",
                "check the provider's status page and your account, then run `campaign check` again",
            )
        )
        return None
    return response


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def probe_postmark(report: Report, provider, project: Project) -> None:
    credential = "POSTMARK_SERVER_TOKEN"
    response = _get(report, provider, "/server", credential)
    if response is None:
        return
    report.ok(f"postmark: {credential} accepted (server {_json(response).get('Name', '?')!r})")
    stream = project.schedule.campaign.message_stream or "broadcast"
    line = project.loaded.lines.get(("campaign", "message_stream"))
    where = (project.loaded.path.name, line, "campaign.message_stream")
    url = f"{provider.base_url}/message-streams/{quote(stream, safe='')}"
    try:
        answer = provider.session.get(url, timeout=TIMEOUT)
    except requests.RequestException as err:
        report.error(Problem(*where, f"cannot read Postmark stream {stream!r}: {err}", "check the network"))
        return
    if answer.status_code == 404 or (answer.status_code == 422 and "stream" in answer.text.lower()):
        report.error(
            Problem(
                *where,
                f"this Postmark server has no message stream {stream!r} ({_text(answer)})",
                "create a Broadcasts stream in Postmark, or set campaign.message_stream to its ID",
            )
        )
        return
    if answer.status_code != 200:
        report.error(Problem(*where, f"Postmark answered HTTP {answer.status_code}: {_text(answer)}", ""))
        return
    body = _json(answer)
    kind = body.get("MessageStreamType")
    if kind != "Broadcasts":
        report.error(
            Problem(
                *where,
                f"Postmark stream {stream!r} is a {kind or 'unknown'} stream: newsletters must go on a Broadcasts "
                "stream (Postmark's terms)",
                "create a Broadcasts stream and set campaign.message_stream to its ID",
            )
        )
    handling = (body.get("SubscriptionManagementConfiguration") or {}).get("UnsubscribeHandlingType")
    if handling != "None":
        report.error(
            Problem(
                *where,
                f"Postmark stream {stream!r} manages unsubscribes itself (SubscriptionManagementConfiguration."
                f"UnsubscribeHandlingType={handling!r}): Postmark would replace our one-click List-Unsubscribe "
                "and add its own footer link, and our ledger would never hear of those unsubscribes",
                POSTMARK_STREAM_FIX,
            )
        )
    elif kind == "Broadcasts":
        report.ok(f"postmark: stream {stream!r} is a Broadcasts stream that leaves unsubscribes to us")


def probe_sendgrid(report: Report, provider, project: Project) -> None:
    credential = "SENDGRID_API_KEY"
    response = _get(report, provider, "/v3/scopes", credential)
    if response is None:
        return
    scopes = _json(response).get("scopes") or []
    if "mail.send" not in scopes:
        report.error(
            _env(
                credential,
                "the key is valid but lacks the mail.send scope (Mail Send permission)",
                "create an API key with Mail Send: Full Access in SendGrid → Settings → API Keys",
            )
        )
    else:
        report.ok(f"sendgrid: {credential} accepted, with the mail.send scope")


def probe_mailgun(report: Report, provider, project: Project) -> None:
    credential = "MAILGUN_API_KEY"
    path = f"/v3/domains/{quote(provider.domain, safe='')}"
    try:
        response = provider.session.get(provider.base_url + path, timeout=TIMEOUT)
    except requests.RequestException as err:
        report.error(
            _env("MAILGUN_API_URL", f"cannot reach mailgun at {provider.base_url} ({err})", "check the network")
        )
        return
    if response.status_code == 404:
        report.error(
            _env(
                "MAILGUN_DOMAIN",
                f"mailgun knows no domain {provider.domain!r} in this region ({_text(response)})",
                "check MAILGUN_DOMAIN; for an EU domain set MAILGUN_API_URL=https://api.eu.mailgun.net",
            )
        )
        return
    if response.status_code != 200:
        # Re-run through the shared path for the auth / status wording.
        _get(report, provider, path, credential)
        return
    domain = _json(response).get("domain") or {}
    state = domain.get("state")
    if state not in (None, "active"):
        report.error(
            _env(
                "MAILGUN_DOMAIN",
                f"mailgun domain {provider.domain!r} is {state}: it cannot send yet",
                "finish the DNS verification in Mailgun → Sending → Domains",
            )
        )
    else:
        report.ok(f"mailgun: {credential} accepted for domain {provider.domain!r}")


def probe_resend(report: Report, provider, project: Project) -> None:
    credential = "RESEND_API_KEY"
    try:
        response = provider.session.get(provider.base_url + "/domains", timeout=TIMEOUT)
    except requests.RequestException as err:
        report.error(_env("RESEND_API_URL", f"cannot reach resend at {provider.base_url} ({err})", "check the network"))
        return
    if response.status_code == 401 and _json(response).get("name") == "restricted_api_key":
        report.ok(f"resend: {credential} accepted (a send-only key: the domain list cannot be read with it)")
        return
    if response.status_code != 200:
        _get(report, provider, "/domains", credential)
        return
    from_domain = parseaddr(project.schedule.campaign.from_)[1].rpartition("@")[2].lower()
    domains = {str(d.get("name", "")).lower(): d.get("status") for d in _json(response).get("data") or []}
    status = domains.get(from_domain)
    if status != "verified":
        line = project.loaded.lines.get(("campaign", "from"))
        report.error(
            Problem(
                project.loaded.path.name,
                line,
                "campaign.from",
                f"resend accepts {credential}, but the From domain {from_domain} is "
                + ("not added to the account" if status is None else f"{status}, not verified"),
                "add and verify the domain in Resend → Domains",
            )
        )
    else:
        report.ok(f"resend: {credential} accepted; {from_domain} is verified")


def probe_smtp(report: Report, provider) -> None:
    where = f"{provider.host}:{provider.port}"
    conn: smtplib.SMTP | None = None
    step = "connect"
    try:
        if provider.security == "ssl":
            conn = smtplib.SMTP_SSL(provider.host, provider.port, timeout=TIMEOUT[1], context=provider.context)
        else:
            conn = smtplib.SMTP(provider.host, provider.port, timeout=TIMEOUT[1])
        step = "EHLO"
        conn.ehlo()
        if provider.security == "starttls":
            step = "STARTTLS"
            if not conn.has_extn("starttls"):
                report.error(
                    _env(
                        "SMTP_SECURITY",
                        f"{where} does not offer STARTTLS",
                        "use SMTP_SECURITY=ssl (port 465) or another relay",
                    )
                )
                return
            conn.starttls(context=provider.context)
            conn.ehlo()
        if provider.username:
            step = "AUTH"
            conn.login(provider.username, provider.password or "")
        step = "QUIT"
        conn.quit()
        conn = None
    except smtplib.SMTPAuthenticationError as err:
        report.error(
            _env(
                "SMTP_PASSWORD",
                f"{where} refused the login of SMTP_USERNAME={provider.username!r} ({err.smtp_code})",
                "check SMTP_USERNAME and SMTP_PASSWORD",
            )
        )
        return
    except smtplib.SMTPNotSupportedError as err:
        report.error(
            _env("SMTP_SECURITY", f"{where}: {step} not supported ({err})", "check SMTP_SECURITY and SMTP_PORT")
        )
        return
    except ssl.SSLCertVerificationError as err:
        report.error(
            _env(
                "SMTP_CA_FILE",
                f"the certificate of {where} is not trusted ({err.verify_message})",
                "check SMTP_HOST, or set SMTP_CA_FILE to the relay's CA bundle",
            )
        )
        return
    except (OSError, smtplib.SMTPException) as err:
        report.error(
            _env("SMTP_HOST", f"smtp {step} with {where} failed: {err}", "check SMTP_HOST, SMTP_PORT and SMTP_SECURITY")
        )
        return
    finally:
        if conn is not None:
            conn.close()
    steps = "connect, " + ("TLS, " if provider.security != "none" else "") + ("AUTH, " if provider.username else "")
    report.ok(f"smtp: {where} {steps}QUIT all fine")


PROBES = {"postmark": probe_postmark, "sendgrid": probe_sendgrid, "mailgun": probe_mailgun, "resend": probe_resend}


def probe_provider(settings: Settings, project: Project, name: str) -> Report:
    """One read-only round trip to the provider; assumes the offline checks of its settings passed."""
    from campaign.errors import ConfigurationError
    from campaign.providers import provider_class

    report = Report()
    cls = provider_class(name)
    if cls is None:
        return report  # an unknown provider: already reported by the offline checks
    try:
        # The provider's own settings only: a placeholder URL or key is the offline checks' business, and
        # must not hide a bad token.
        provider = cls.from_settings(settings, project.schedule.campaign)
    except ConfigurationError:
        return report  # already reported by the offline checks
    try:
        if name == "smtp":
            probe_smtp(report, provider)
        elif name in PROBES:
            PROBES[name](report, provider, project)
    finally:
        provider.close()
    return report
