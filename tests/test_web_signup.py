"""Confirmed sign-up: the form (CSRF, rate limit), the confirmation email through the real outbox provider,
activation, and the rules around it — against a real server."""

from __future__ import annotations

import re
from datetime import date, timedelta

import requests
import time_machine
from sqlalchemy import select

from campaign.clock import utcnow
from campaign.delivery.tokens import Tokens
from campaign.ledger.schema import events, subscribers
from campaign.ledger.states import ACTIVE, PENDING, UNSUBSCRIBED
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, live_web, parts, path_of, read_eml

DAY1, DAY2 = date(2027, 9, 1), date(2027, 9, 2)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form_session(web) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{web.url}/subscribe", timeout=10)
    assert page.status_code == 200
    return session, CSRF.search(page.text).group(1)


def _sign_up(web, email: str, **fields) -> requests.Response:
    session, token = _form_session(web)
    with session:
        return session.post(
            f"{web.url}/subscribe",
            data={"csrf_token": token, "email": email, **fields},
            timeout=10,
            allow_redirects=False,
        )


def _confirmations(campaign_dir) -> list:
    folder = campaign_dir.outbox / "confirmations"
    return sorted(folder.glob("*/*.eml")) if folder.exists() else []


def _confirm_link(path) -> str:
    html, text = parts(read_eml(path))
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", text).group(1)
    assert f'href="{link}"' in html
    return link


def _confirm(link: str) -> requests.Response:
    """What a person does: open the link (a page with a button), press the button (a POST with its form)."""
    with requests.Session() as session:
        page = session.get(link, timeout=10)
        match = CSRF.search(page.text)
        if match is None:
            return page
        return session.post(link, data={"csrf_token": match.group(1)}, timeout=10, allow_redirects=False)


def _status(store, email):
    sub = store.subscriber_by_email(email)
    return sub.status if sub else None


def test_sign_up_confirm_and_receive_only_later_issues(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        response = _sign_up(web, "  New.Reader@Example.ORG ", name="Sam", country="GB")
        assert response.status_code == 200 and "Check your inbox" in response.text
        assert _status(web.store, "new.reader@example.org") == PENDING
        web.flush_mail()
        [eml] = _confirmations(campaign_dir)
        message = read_eml(eml)
        assert message["To"] == "Sam <new.reader@example.org>"
        assert message["Subject"].startswith("Please confirm your subscription")
        assert message["Message-ID"].startswith("<confirm.")
        assert message["List-Unsubscribe"]
        html, text = parts(message)
        for part in (html, text):  # every email carries the crisis block (GB) and the disclaimer
            assert "Samaritans" in part and "Medical disclaimer." in part
        assert "Hi Sam," in text and "__" not in text and "__" not in html

        # Pending subscribers are sent nothing else.
        campaign_dir.run("send", "1", "--yes", check=True)
        assert "new.reader@example.org" not in {r.email for r in web.store.deliveries_for(DAY1)}

        before = utcnow()
        confirmed = _confirm(_confirm_link(eml))
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        sub = web.store.subscriber_by_email("new.reader@example.org")
        assert sub.status == ACTIVE and sub.country == "GB" and sub.name == "Sam"
        assert before <= sub.joined_at <= utcnow()  # joined when confirmed
        again = _confirm(_confirm_link(eml))
        assert again.status_code == 200 and "already subscribed" in again.text

        campaign_dir.run("send", "2", "--yes", check=True)
        assert "new.reader@example.org" in {r.email for r in web.store.deliveries_for(DAY2)}
        assert len(list((campaign_dir.outbox / "2027-09-02").glob("*-new.reader@example.org.eml"))) == 1
        kinds = {row.kind for row in web.store.engine.connect().execute(select(events.c.kind))}
        assert {"confirmation_sent", "confirmed"} <= kinds


def test_the_answer_is_the_same_whether_or_not_the_address_is_known(campaign_dir):
    add_subscribers(campaign_dir, people(2))
    with live_web(campaign_dir, signups_per_client=(50, 600)) as web:
        web.store.suppress(web.store.subscriber_by_email("reader00002@example.org").id, UNSUBSCRIBED, "test")
        _sign_up(web, "pending@example.org")
        answers = {
            email: _sign_up(web, email)
            for email in (
                "brand.new@example.org",
                "reader00001@example.org",
                "reader00002@example.org",
                "pending@example.org",
            )
        }
        bodies = {re.sub(r"nonce-[^']+'|nonce=\"[^\"]+\"", "", r.text) for r in answers.values()}
        assert len(bodies) == 1 and {r.status_code for r in answers.values()} == {200}
        header_names = {
            tuple(sorted(k for k in r.headers if k not in ("Date", "Content-Security-Policy")))
            for r in answers.values()
        }
        assert len(header_names) == 1
        web.flush_mail()
        sent_to = sorted(p.name.split("-", 1)[1] for p in _confirmations(campaign_dir))
        # An active subscriber gets nothing; "pending" asked twice within 10 minutes gets one email.
        assert sent_to == ["brand.new@example.org.eml", "pending@example.org.eml", "reader00002@example.org.eml"]


def test_an_unsubscribed_address_comes_back_only_through_the_confirmation(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    email = "reader00001@example.org"
    with live_web(campaign_dir) as web:
        sub = web.store.subscriber_by_email(email)
        web.store.suppress(sub.id, UNSUBSCRIBED, "left")
        _sign_up(web, email)
        assert _status(web.store, email) == UNSUBSCRIBED  # still out until the link is followed
        campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(1))), check=True)
        assert _status(web.store, email) == UNSUBSCRIBED  # an import never brings it back
        web.flush_mail()
        [eml] = _confirmations(campaign_dir)
        link = _confirm_link(eml)
        assert _confirm(link).status_code == 200
        back = web.store.subscriber_by_email(email)
        assert back.status == ACTIVE and back.joined_at > sub.joined_at

        # Leaving again: the old confirmation link must not re-subscribe (a link scanner may fetch it).
        web.store.suppress(back.id, UNSUBSCRIBED, "left again")
        stale = _confirm(link)
        assert stale.status_code == 410 and "no longer valid" in stale.text
        assert _status(web.store, email) == UNSUBSCRIBED


def test_altered_and_expired_confirmation_links_are_refused(campaign_dir):
    with live_web(campaign_dir) as web:
        _sign_up(web, "someone@example.org")
        sub = web.store.subscriber_by_email("someone@example.org")
        token = Tokens(TEST_SECRET).confirm(sub.id)
        for i in (0, len(token) // 2, len(token) - 1):
            altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
            assert requests.get(f"{web.url}/confirm/{altered}", timeout=10).status_code == 400
        assert requests.get(f"{web.url}/confirm/{Tokens('other').confirm(sub.id)}", timeout=10).status_code == 400
        # An unsubscribe token is not a confirmation token (different salt).
        assert (
            requests.get(f"{web.url}/confirm/{Tokens(TEST_SECRET).unsubscribe(sub.id)}", timeout=10).status_code == 400
        )
        with time_machine.travel(utcnow() - timedelta(days=7, minutes=1), tick=False):
            expired = Tokens(TEST_SECRET).confirm(sub.id)
        response = requests.get(f"{web.url}/confirm/{expired}", timeout=10)
        assert response.status_code == 400 and "7 days" in response.text
        assert _status(web.store, "someone@example.org") == PENDING
        with time_machine.travel(utcnow() - timedelta(days=6, hours=23), tick=False):
            almost = Tokens(TEST_SECRET).confirm(sub.id)
        assert _confirm(f"{web.url}/confirm/{almost}").status_code == 200
        assert _status(web.store, "someone@example.org") == ACTIVE


def test_the_form_needs_its_csrf_token(campaign_dir):
    with live_web(campaign_dir) as web:
        # No token / no cookie: what a form on another site would send.
        bare = requests.post(f"{web.url}/subscribe", data={"email": "x@example.org"}, timeout=10)
        assert bare.status_code == 400
        # A token from one browser with another browser's cookie does not match.
        _, token = _form_session(web)
        other, _ = _form_session(web)
        with other:
            mixed = other.post(f"{web.url}/subscribe", data={"csrf_token": token, "email": "x@example.org"}, timeout=10)
        assert mixed.status_code == 400
        assert web.store.subscriber_by_email("x@example.org") is None
        cookie = requests.get(f"{web.url}/subscribe", timeout=10).headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/subscribe" in cookie


def test_sign_ups_are_rate_limited_per_client(campaign_dir):
    with live_web(campaign_dir) as web:
        codes = [_sign_up(web, f"flood{i}@example.org").status_code for i in range(6)]
        assert codes == [200] * 5 + [429]
        limited = _sign_up(web, "flood9@example.org")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert web.store.subscriber_by_email("flood9@example.org") is None


def test_invalid_input_is_explained_on_the_form(campaign_dir):
    with live_web(campaign_dir) as web:
        bad = _sign_up(web, '"><script>alert(1)</script>')
        assert bad.status_code == 400 and "valid email address" in bad.text
        assert "<script>alert" not in bad.text and "&lt;script&gt;" in bad.text
        wrong_country = _sign_up(web, "ok@example.org", country="XX")
        assert wrong_country.status_code == 400 and "choose a country" in wrong_country.text
        other = _sign_up(web, "far.away@example.org", country="ZZ")  # "another country": international
        assert other.status_code == 200
        with web.store.engine.connect() as conn:
            emails = set(conn.execute(select(subscribers.c.email)).scalars())
        assert emails == {"far.away@example.org"}


def _confirm_page_and_token(link: str) -> tuple[requests.Session, requests.Response, str]:
    session = requests.Session()
    page = session.get(link, timeout=10)
    return session, page, CSRF.search(page.text).group(1)


def test_opening_the_link_changes_nothing_only_the_button_confirms_with_the_forms_time_zone(campaign_dir):
    email = "tz.reader@example.org"
    with live_web(campaign_dir) as web:
        form = _sign_up(web, email, country="US", timezone="America/Chicago")
        assert form.status_code == 200
        web.flush_mail()
        [eml] = _confirmations(campaign_dir)
        link = _confirm_link(eml)

        # What a link scanner does: GET (twice, with and without cookies). Nothing changes.
        for _ in range(2):
            page = requests.get(link, timeout=10)
            assert page.status_code == 200 and "Confirm my subscription" in page.text
            assert f'action="{path_of(link)}"' in page.text and 'method="post"' in page.text
        assert _status(web.store, email) == PENDING

        session, page, csrf = _confirm_page_and_token(link)
        assert "Path=/confirm" in page.headers["Set-Cookie"] and "HttpOnly" in page.headers["Set-Cookie"]
        with session:
            # A POST without the form's token (another site's form, a scanner replaying the URL) is refused.
            assert requests.post(link, timeout=10).status_code == 400
            assert session.post(link, data={"csrf_token": "forged"}, timeout=10).status_code == 400
            _, _, other_csrf = _confirm_page_and_token(link)  # a token from another browser's cookie
            assert session.post(link, data={"csrf_token": other_csrf}, timeout=10).status_code == 400
            assert _status(web.store, email) == PENDING
            done = session.post(link, data={"csrf_token": csrf}, timeout=10, allow_redirects=False)
        assert done.status_code == 200 and "You are subscribed" in done.text
        sub = web.store.subscriber_by_email(email)
        assert (sub.status, sub.timezone, sub.country) == (ACTIVE, "America/Chicago", "US")
        # Opened again afterwards: says so, changes nothing.
        assert "already subscribed" in requests.get(link, timeout=10).text


def test_the_form_detects_the_time_zone_in_the_browser_and_checks_it(campaign_dir):
    with live_web(campaign_dir, signups_per_client=(50, 600)) as web:
        page = requests.get(f"{web.url}/subscribe", timeout=10)
        nonce = page.headers["Content-Security-Policy"].split("script-src 'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in page.text
        assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in page.text
        assert 'name="timezone"' in page.text
        for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe/ London", "UTC\x00", "x" * 300):
            response = _sign_up(web, "tz@example.org", timezone=bad)
            assert response.status_code == 400 and "time zone such as" in response.text, repr(bad)
        assert web.store.subscriber_by_email("tz@example.org") is None
        assert _sign_up(web, "tz@example.org", timezone="Asia/Kolkata").status_code == 200
        assert web.store.subscriber_by_email("tz@example.org").timezone == "Asia/Kolkata"


def test_a_re_subscription_updates_country_and_time_zone_but_the_form_never_changes_an_active_reader(campaign_dir):
    add_subscribers(campaign_dir, [{"email": "back@example.org", "country": "GB", "timezone": "Europe/London"}])
    add_subscribers(campaign_dir, [{"email": "stays@example.org", "country": "GB", "timezone": "Europe/London"}])
    with live_web(campaign_dir, signups_per_client=(50, 600)) as web:
        web.store.suppress(web.store.subscriber_by_email("back@example.org").id, UNSUBSCRIBED, "left")
        _sign_up(web, "back@example.org", country="US", timezone="America/New_York")
        _sign_up(web, "stays@example.org", country="US", timezone="America/New_York")  # someone else typed it
        stays = web.store.subscriber_by_email("stays@example.org")
        assert (stays.status, stays.country, stays.timezone) == (ACTIVE, "GB", "Europe/London")
        web.flush_mail()
        [eml] = _confirmations(campaign_dir)
        assert _confirm(_confirm_link(eml)).status_code == 200
        back = web.store.subscriber_by_email("back@example.org")
        assert (back.status, back.country, back.timezone) == (ACTIVE, "US", "America/New_York")


def test_a_name_with_line_breaks_or_invisible_characters_is_cleaned_at_the_edge(campaign_dir):
    with live_web(campaign_dir) as web:
        name = "Sam\r\nBcc: victim@example.org\u2028\u200b\x00 Lee"
        assert _sign_up(web, "clean@example.org", name=name).status_code == 200
        stored = web.store.subscriber_by_email("clean@example.org").name
        assert stored == "Sam Bcc: victim@example.org Lee"
        web.flush_mail()
        [eml] = _confirmations(campaign_dir)
        message = read_eml(eml)
        assert message["To"] == '"Sam Bcc: victim@example.org Lee" <clean@example.org>' and message["Bcc"] is None


def test_one_reminder_after_24_hours_never_more(campaign_dir):
    from campaign.delivery.reminders import send_signup_reminders

    with live_web(campaign_dir, signups_per_client=(50, 600)) as web:
        _sign_up(web, "slow@example.org")
        _sign_up(web, "quick@example.org")
        web.flush_mail()
        [quick] = [p for p in _confirmations(campaign_dir) if "quick@" in p.name]
        assert _confirm(_confirm_link(quick)).status_code == 200
        mailer = web.app.extensions["campaign"].mailer
        now = utcnow()
        assert send_signup_reminders(web.store, mailer, now=now + timedelta(hours=23)) == 0
        assert send_signup_reminders(web.store, mailer, now=now + timedelta(hours=25)) == 1
        for later in (26, 48, 24 * 6):
            assert send_signup_reminders(web.store, mailer, now=now + timedelta(hours=later)) == 0
        with web.store.engine.connect() as conn:
            kinds = [
                (row.email, row.kind)
                for row in conn.execute(select(events.c.email, events.c.kind).order_by(events.c.id))
                if row.kind in ("confirmation_sent", "confirmation_reminder")
            ]
        assert kinds.count(("slow@example.org", "confirmation_reminder")) == 1
        assert kinds.count(("slow@example.org", "confirmation_sent")) == 2  # the first email and the reminder
        assert ("quick@example.org", "confirmation_reminder") not in kinds
        # The reminder's link works like the first one (button, then active).
        reminded = [p for p in _confirmations(campaign_dir) if "slow@" in p.name]
        assert _confirm(_confirm_link(reminded[-1])).status_code == 200
        assert _status(web.store, "slow@example.org") == ACTIVE


def test_a_sign_up_older_than_its_link_gets_no_reminder(campaign_dir):
    from campaign.delivery.reminders import send_signup_reminders

    with live_web(campaign_dir) as web:
        _sign_up(web, "lapsed@example.org")
        web.flush_mail()
        mailer = web.app.extensions["campaign"].mailer
        assert send_signup_reminders(web.store, mailer, now=utcnow() + timedelta(days=8)) == 0
