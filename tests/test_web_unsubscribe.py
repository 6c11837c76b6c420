"""One-click unsubscribe (RFC 8058), the confirm page, and "pause for 7 days" — against a real server, with
the links taken from the .eml files a real `campaign send` wrote."""

from __future__ import annotations

from datetime import date, timedelta

import requests
from sqlalchemy import select

from campaign.clock import utcnow
from campaign.delivery.tokens import Tokens
from campaign.ledger.queue import Variants
from campaign.ledger.schema import events
from campaign.ledger.states import ACTIVE, UNSUBSCRIBED
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, eml_for, list_unsubscribe_url, live_web, path_of, read_eml

DAY1, DAY2, DAY3 = date(2027, 9, 1), date(2027, 9, 2), date(2027, 9, 3)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _events(store, kind):
    with store.engine.connect() as conn:
        return conn.execute(select(events).where(events.c.kind == kind)).all()


def test_one_click_unsubscribe_from_a_sent_email_stops_the_next_day(campaign_dir):
    add_subscribers(campaign_dir, people(3))
    # The acceptance check: POST the path of the List-Unsubscribe URL of a real .eml to the running server.
    with live_web(campaign_dir, links_to_server=False) as web:
        campaign_dir.run("send", "1", "--yes", check=True)
        message = read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), "reader00002@example.org"))
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = list_unsubscribe_url(message)
        assert url.startswith("https://news.example.org/unsubscribe/")
        target = web.url + path_of(url)

        response = requests.post(
            target,
            data="List-Unsubscribe=One-Click",
            timeout=10,
            allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert "Location" not in response.headers and "Set-Cookie" not in response.headers
        subscriber = web.store.subscriber_by_email("reader00002@example.org")
        assert subscriber.status == UNSUBSCRIBED

        again = requests.post(target, data=ONE_CLICK, timeout=10, allow_redirects=False)
        assert again.status_code == 200  # idempotent
        assert len(_events(web.store, "unsubscribe")) == 1  # and recorded once

        # Reader 3 prefers a break: pause for 7 days (from the page's second button).
        pause_url = (
            web.url
            + path_of(
                list_unsubscribe_url(
                    read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), "reader00003@example.org"))
                )
            )
            + "/pause"
        )
        paused = requests.post(pause_url, timeout=10, allow_redirects=False)
        assert paused.status_code == 200 and "Emails paused" in paused.text
        reader3 = web.store.subscriber_by_email("reader00003@example.org")
        assert reader3.status == ACTIVE

    campaign_dir.run("send", "2", "--yes", check=True)
    store = campaign_dir.store()
    try:
        day2 = {row.email: row.status for row in store.deliveries_for(DAY2)}
    finally:
        store.close()
    # reader 2 left; reader 3's day 2 waits for the end of their pause (personal_pause: postpone)
    assert day2 == {"reader00001@example.org": "sent", "reader00003@example.org": "postponed"}
    files = sorted(p.name for p in (campaign_dir.outbox / DAY2.isoformat()).glob("*.eml"))
    assert len(files) == 1 and "reader00001" in files[0]


def test_a_changed_character_in_the_token_is_refused_and_changes_nothing(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        subscriber = web.store.subscriber_by_email("reader00001@example.org")
        token = Tokens(TEST_SECRET).unsubscribe(subscriber.id)
        # Every position, including the last character (whose low bits base64 decoding would ignore).
        for i in (0, len(token) // 2, len(token) - 1):
            altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
            for method in ("get", "post"):
                response = requests.request(
                    method, f"{web.url}/unsubscribe/{altered}", data=ONE_CLICK, timeout=10, allow_redirects=False
                )
                assert response.status_code == 400, (i, method)
                assert "not valid" in response.text
        foreign = Tokens("another-secret").unsubscribe(subscriber.id)
        assert requests.post(f"{web.url}/unsubscribe/{foreign}", data=ONE_CLICK, timeout=10).status_code == 400
        assert requests.post(f"{web.url}/unsubscribe/{token[:-1]}/pause", timeout=10).status_code == 400
        after = web.store.subscriber_by_email("reader00001@example.org")
        assert after.status == ACTIVE
        assert _events(web.store, "unsubscribe") == [] and _events(web.store, "pause") == []


def test_get_shows_a_confirm_page_and_never_unsubscribes(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        subscriber = web.store.subscriber_by_email("reader00001@example.org")
        token = Tokens(TEST_SECRET).unsubscribe(subscriber.id)
        page = requests.get(f"{web.url}/unsubscribe/{token}", timeout=10)
        assert page.status_code == 200
        assert f'action="/unsubscribe/{token}"' in page.text  # the confirm button
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
        assert f'action="/unsubscribe/{token}/pause"' in page.text  # the gentler choice
        assert "Pause these emails for 7 days" in page.text
        assert "reader00001" not in page.text  # the address is never shown
        assert "988" in page.text  # crisis resources on the page
        assert web.store.subscriber_by_email("reader00001@example.org").status == ACTIVE

        # The page's button: a browser form post (multipart works too, as some mail clients send it).
        response = requests.post(
            f"{web.url}/unsubscribe/{token}",
            files={"List-Unsubscribe": (None, "One-Click")},
            timeout=10,
            allow_redirects=False,
        )
        assert response.status_code == 200 and "You are unsubscribed" in response.text
        assert web.store.subscriber_by_email("reader00001@example.org").status == UNSUBSCRIBED

        # Visiting the link again says so, with a way back.
        revisit = requests.get(f"{web.url}/unsubscribe/{token}", timeout=10)
        assert "You are unsubscribed" in revisit.text and 'href="/subscribe"' in revisit.text


def test_a_post_without_the_one_click_body_is_refused(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        subscriber = web.store.subscriber_by_email("reader00001@example.org")
        token = Tokens(TEST_SECRET).unsubscribe(subscriber.id)
        for body in ({}, {"List-Unsubscribe": "Yes"}):
            response = requests.post(f"{web.url}/unsubscribe/{token}", data=body, timeout=10)
            assert response.status_code == 400
        assert web.store.subscriber_by_email("reader00001@example.org").status == ACTIVE


def test_unsubscribe_is_seen_by_a_send_already_in_progress(campaign_dir):
    """The sender claims each batch with a status re-check: an unsubscribe between two batches holds."""
    add_subscribers(campaign_dir, people(2))
    with live_web(campaign_dir) as web:
        first, second = (web.store.subscriber_by_email(f"reader0000{i}@example.org") for i in (1, 2))
        web.store.enqueue(DAY3, utcnow() + timedelta(days=3650), Variants({}, "X", "X"))  # both queued
        token = Tokens(TEST_SECRET).unsubscribe(second.id)
        assert requests.post(f"{web.url}/unsubscribe/{token}", data=ONE_CLICK, timeout=10).status_code == 200
        claimed = web.store.claim_batch(
            DAY3,
            "X",
            limit=10,
            worker_id="here:1:w",
            batch_id="b-test",
            provider="outbox",
            lease_until=utcnow() + timedelta(hours=1),
        )
        assert [r.id for r in claimed] == [first.id]


def test_links_for_unknown_ids_and_test_copies_answer_calmly(campaign_dir):
    with live_web(campaign_dir) as web:
        for subscriber_id in (0, 999):  # 0: the link in a `send --to` test copy
            token = Tokens(TEST_SECRET).unsubscribe(subscriber_id)
            response = requests.post(f"{web.url}/unsubscribe/{token}", data=ONE_CLICK, timeout=10)
            assert response.status_code == 200 and "You are unsubscribed" in response.text


def test_pause_lasts_seven_days(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        subscriber = web.store.subscriber_by_email("reader00001@example.org")
        token = Tokens(TEST_SECRET).unsubscribe(subscriber.id)
        before = utcnow()
        page = requests.get(f"{web.url}/unsubscribe/{token}", timeout=10).text
        assert "the series then continues where you left off, one part a day" in page
        paused = requests.post(f"{web.url}/unsubscribe/{token}/pause", timeout=10)
        assert paused.status_code == 200 and "the series continues where you left off" in paused.text
        with web.store.engine.connect() as conn:
            from campaign.ledger.schema import subscribers

            until = conn.execute(
                select(subscribers.c.paused_until).where(subscribers.c.id == subscriber.id)
            ).scalar_one()
        assert before + timedelta(days=7) <= until <= utcnow() + timedelta(days=7)
        assert len(_events(web.store, "pause")) == 1


def test_a_correctly_signed_token_with_an_id_out_of_range_is_a_400_not_a_500(campaign_dir):
    from itsdangerous import URLSafeSerializer

    add_subscribers(campaign_dir, people(1))
    signer = URLSafeSerializer(TEST_SECRET, salt="campaign.unsubscribe")
    with live_web(campaign_dir) as web:
        for value in (2**63, 2**31, -1):
            token = signer.dumps(value)
            for method, path in (("get", ""), ("post", ""), ("post", "/pause")):
                response = requests.request(
                    method, f"{web.url}/unsubscribe/{token}{path}", data=ONE_CLICK, timeout=10, allow_redirects=False
                )
                assert response.status_code == 400, (value, method, path)
                assert "not valid" in response.text
        assert web.store.subscriber_by_email("reader00001@example.org").status == ACTIVE
        assert _events(web.store, "unsubscribe") == [] and _events(web.store, "pause") == []
