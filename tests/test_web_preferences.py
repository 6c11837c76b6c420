"""The preferences page ("Manage your emails"): opened from the link in a real sent .eml, every change a
CSRF-checked POST that takes effect for the next send — even of a day already queued — against a real server."""

from __future__ import annotations

import re
from datetime import date, timedelta

import requests
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from campaign.clock import utcnow
from campaign.delivery.sender import Sender
from campaign.delivery.tokens import Tokens
from campaign.ledger.schema import deliveries, events, subscribers
from campaign.ledger.states import ACTIVE, POSTPONED, UNSUBSCRIBED
from campaign.providers.outbox import OutboxProvider
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, eml_for, live_web, parts, path_of, read_eml

DAY1, DAY2, DAY5 = date(2027, 9, 1), date(2027, 9, 2), date(2027, 9, 5)
MANAGE = re.compile(r'<a[^>]*href="([^"]+)"[^>]*>Manage your emails</a>')


def _manage_url(message) -> str:
    html, text = parts(message)
    from_html = MANAGE.search(html).group(1).replace("&amp;", "&")
    from_text = re.search(r"Manage your emails: (\S+)", text).group(1)
    assert from_html == from_text and "/preferences/" in from_html
    return from_html


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def _open(web, url: str) -> tuple[requests.Session, str]:
    """A browser-like session that opened the page: (session, CSRF token)."""
    session = requests.Session()
    page = session.get(web.url + path_of(url), timeout=10)
    assert page.status_code == 200 and "Manage your emails" in page.text
    return session, _csrf(page.text)


def _events(store, kind):
    with store.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.kind == kind)).all()


def test_from_a_sent_email_country_gb_and_plain_text_shape_the_next_email(campaign_dir):
    add_subscribers(campaign_dir, people(3))
    with live_web(campaign_dir) as web:  # the emails' links lead to this server (http: the CSRF cookie is not Secure)
        campaign_dir.run("send", "1", "--yes", check=True)
        day1 = campaign_dir.outbox / DAY1.isoformat()
        first = read_eml(eml_for(day1, "reader00001@example.org"))
        assert "Samaritans" not in parts(first)[1]  # US by default
        url = _manage_url(first)
        assert url.startswith(f"{web.url}/preferences/")
        # each reader's link is their own
        assert _manage_url(read_eml(eml_for(day1, "reader00002@example.org"))) != url

        session, csrf = _open(web, url)
        page = session.get(web.url + path_of(url), timeout=10).text
        assert "reader00001" not in page  # the address is never shown
        saved = session.post(
            web.url + path_of(url), data={"csrf_token": csrf, "country": "GB", "timezone": "Europe/London"}, timeout=10
        )
        assert saved.status_code == 200 and "Saved" in saved.text
        url2 = _manage_url(read_eml(eml_for(day1, "reader00002@example.org")))
        session2, csrf2 = _open(web, url2)
        text_only = session2.post(
            web.url + path_of(url2), data={"csrf_token": csrf2, "country": "", "format": "text"}, timeout=10
        )
        assert text_only.status_code == 200
        assert len(_events(web.store, "preferences")) == 2

    campaign_dir.run("send", "2", "--yes", check=True)
    day2 = campaign_dir.outbox / DAY2.isoformat()
    gb = read_eml(eml_for(day2, "reader00001@example.org"))
    html, text = parts(gb)
    assert "Samaritans" in html and "Samaritans" in text and "116 123" in text
    plain = read_eml(eml_for(day2, "reader00002@example.org"))
    assert plain.get_content_type() == "text/plain" and not plain.is_multipart()
    body = plain.get_content()
    assert "988" in body and "Medical disclaimer." in body  # crisis block and disclaimer still there
    assert "Manage your emails: http://127.0.0.1:" in body
    other = read_eml(eml_for(day2, "reader00003@example.org"))
    assert other.get_content_type() == "multipart/alternative" and "Samaritans" not in parts(other)[1]


def test_a_pause_after_the_day_was_queued_holds_that_days_email(campaign_dir):
    add_subscribers(campaign_dir, people(2))
    with live_web(campaign_dir) as web:
        project = campaign_dir.project()
        sender = Sender(project, web.store, OutboxProvider(campaign_dir.outbox))
        assert sender.start_day(DAY5) == 2  # day 5 queued for both
        paused = web.store.subscriber_by_email("reader00002@example.org")
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(paused.id, DAY1)}"
        session, csrf = _open(web, url)
        answer = session.post(url + "/pause", data={"csrf_token": csrf, "days": "7"}, timeout=10)
        assert answer.status_code == 200 and "Paused" in answer.text
        report = sender.send_day(DAY5, enqueue=False)
        assert report.sent == 1
        rows = {r.email: r.status for r in web.store.deliveries_for(DAY5)}
        assert rows == {"reader00001@example.org": "sent", "reader00002@example.org": POSTPONED}
        sent = sorted(p.name for p in (campaign_dir.outbox / DAY5.isoformat()).glob("*.eml"))
        assert len(sent) == 1 and "reader00001" in sent[0]
        with web.store.engine.connect() as conn:
            until = conn.execute(select(subscribers.c.paused_until).where(subscribers.c.id == paused.id)).scalar()
        assert utcnow() + timedelta(days=6) < until <= utcnow() + timedelta(days=7)


def test_the_claim_rechecks_a_pause_made_after_the_enqueue(campaign_dir):
    """Even without the page's own move of the queued rows: the claim skips a paused reader, and the drained
    queue postpones their row."""
    add_subscribers(campaign_dir, people(2))
    store = campaign_dir.store()
    try:
        sender = Sender(campaign_dir.project(), store, OutboxProvider(campaign_dir.outbox))
        sender.start_day(DAY5)
        second = store.subscriber_by_email("reader00002@example.org")
        store.pause_subscriber(second.id, utcnow() + timedelta(days=7))  # as a concurrent pause would leave it
        sender.send_day(DAY5, enqueue=False)
        rows = {r.email: r.status for r in store.deliveries_for(DAY5)}
        assert rows == {"reader00001@example.org": "sent", "reader00002@example.org": POSTPONED}
    finally:
        store.close()


def test_a_country_change_moves_a_day_already_queued(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        sender = Sender(campaign_dir.project(), web.store, OutboxProvider(campaign_dir.outbox))
        sender.start_day(DAY5)
        reader = web.store.subscriber_by_email("reader00001@example.org")
        url = f"{web.url}/preferences/{Tokens(TEST_SECRET).preferences(reader.id, DAY1)}"
        session, csrf = _open(web, url)
        session.post(url, data={"csrf_token": csrf, "country": "GB", "format": "text"}, timeout=10)
        sender.send_day(DAY5, enqueue=False)
        message = read_eml(eml_for(campaign_dir.outbox / DAY5.isoformat(), "reader00001@example.org"))
        assert message.get_content_type() == "text/plain" and "Samaritans" in message.get_content()


def test_hostile_requests_are_refused_and_change_nothing(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        reader = web.store.subscriber_by_email("reader00001@example.org")
        tokens = Tokens(TEST_SECRET)
        token = tokens.preferences(reader.id, utcnow().date())
        url = f"{web.url}/preferences/{token}"
        session, csrf = _open(web, url)
        signer = URLSafeSerializer(TEST_SECRET, salt="campaign.preferences")
        today = utcnow().date().toordinal()
        bad_tokens = [
            token[:-1] + ("A" if token[-1] != "A" else "B"),  # tampered
            token[:5] + ("A" if token[5] != "A" else "B") + token[6:],
            tokens.preferences(reader.id, utcnow().date() - timedelta(days=181)),  # expired
            tokens.unsubscribe(reader.id),  # another purpose
            Tokens("another-secret").preferences(reader.id, utcnow().date()),  # another key
            signer.dumps([2**63, today]),  # right key, id out of range
            signer.dumps([2**31, today]),
        ]
        for bad in bad_tokens:
            for path in ("", "/pause", "/leave"):
                answer = session.post(
                    f"{web.url}/preferences/{bad}{path}",
                    data={"csrf_token": csrf, "country": "GB", "days": "7"},
                    timeout=10,
                )
                assert answer.status_code == 400, (bad, path)
            assert session.get(f"{web.url}/preferences/{bad}", timeout=10).status_code == 400
        # the right token without the CSRF token, with a forged one, or from another browser: 400
        for data in ({"country": "GB"}, {"country": "GB", "csrf_token": "x" * 40}):
            for path in ("", "/pause", "/leave"):
                assert session.post(url + path, data={**data, "days": "7"}, timeout=10).status_code == 400
        stranger = requests.post(url + "/leave", data={"csrf_token": csrf}, timeout=10)
        assert stranger.status_code == 400
        # a country that is not in the crisis list, an unknown zone, a pause of 30 days: refused
        for data in ({"country": "FR"}, {"country": "XX"}, {"timezone": "../../etc/passwd"}, {"format": "pdf"}):
            answer = session.post(url, data={"csrf_token": csrf, **data}, timeout=10)
            assert answer.status_code == 400 and 'role="alert"' in answer.text
        assert session.post(url + "/pause", data={"csrf_token": csrf, "days": "30"}, timeout=10).status_code == 400
        after = web.store.subscriber_by_email("reader00001@example.org")
        assert (after.status, after.country, after.timezone) == (ACTIVE, reader.country, reader.timezone)
        assert web.store.paused_until(reader.id) is None
        assert _events(web.store, "preferences") == [] and _events(web.store, "pause") == []

        # leaving from the page works, and the page then has nothing to manage
        left = session.post(url + "/leave", data={"csrf_token": csrf}, timeout=10)
        assert left.status_code == 200 and "You are unsubscribed" in left.text
        assert web.store.subscriber_by_email("reader00001@example.org").status == UNSUBSCRIBED
        assert "nothing to manage" in session.get(url, timeout=10).text


def test_a_get_changes_nothing_and_an_unknown_id_answers_calmly(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        unknown = Tokens(TEST_SECRET).preferences(999, utcnow().date())
        page = requests.get(f"{web.url}/preferences/{unknown}", timeout=10)
        assert page.status_code == 200 and "nothing to manage" in page.text
        with web.store.engine.connect() as conn:
            assert conn.execute(select(deliveries)).all() == []
