"""The studio's sign-in, sessions and request guard (issue 19, item 1): passwordless single-use links stored as
hashes, server-side sessions revoked with their user, CSRF on every state-changing request, rate limits on
link requests, and the same answer for known and unknown addresses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from campaign.ledger.schema import signin_links, studio_sessions
from tests.studio_helpers import csrf_of, make_studio


@pytest.fixture
def studio(any_campaign_dir):
    s = make_studio(any_campaign_dir)
    yield s
    s.app.extensions["studio"].mailer.close()
    s.store.close()


def _outbox_links(campaign) -> list[str]:
    import email
    import email.policy
    import re

    found = []
    for path in sorted((campaign.outbox / "studio").rglob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        found += re.findall(r"https?://\S+/studio/signin/[A-Za-z0-9_-]+", text)
    return found


def test_no_session_gives_401_on_the_api_and_a_redirect_on_pages(studio):
    client = studio.client()
    assert client.get("/studio/api/session").status_code == 401
    assert client.get("/studio/api/days").status_code == 401
    put = client.put("/studio/api/days/2027-09-12", json={"subject": "x"}, headers={"If-Match": '"x"'})
    assert put.status_code == 401
    page = client.get("/studio/")
    assert page.status_code == 303 and page.headers["Location"].endswith("/studio/signin")


def test_a_missing_or_wrong_csrf_token_gives_403(studio):
    client, token = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    before = studio.schedule.read_bytes()
    for headers in ({}, {"X-CSRF-Token": "nonsense"}, {"X-CSRF-Token": token + "x"}):
        r = client.put(
            "/studio/api/days/2027-09-20", json={"subject": "Changed"}, headers={"If-Match": etag, **headers}
        )
        assert r.status_code == 403, headers
    # the right token from another origin is refused too
    r = client.put(
        "/studio/api/days/2027-09-20",
        json={"subject": "Changed"},
        headers={"If-Match": etag, "X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert studio.schedule.read_bytes() == before
    # another user's token does not work in this session
    _, other_token = studio.signed_in("ann@example.org", "approver")
    r = client.put(
        "/studio/api/days/2027-09-20",
        json={"subject": "Changed"},
        headers={"If-Match": etag, "X-CSRF-Token": other_token},
    )
    assert r.status_code == 403


def test_get_of_the_link_uses_nothing_up_and_post_redeems_it_once(studio):
    studio.add_user("ed@example.org")
    token = studio.link_token("ed@example.org")
    client = studio.client()
    first = client.get(f"/studio/signin/{token}")
    second = client.get(f"/studio/signin/{token}")  # a mail scanner, then the person
    assert first.status_code == second.status_code == 200
    assert "Sign in</button>" in second.text
    with studio.store.engine.connect() as conn:
        row = conn.execute(select(signin_links)).one()
    assert row.used_at is None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()  # only the hash is stored
    assert token not in str(tuple(row))
    redeemed = client.post(f"/studio/signin/{token}", data={"csrf_token": csrf_of(second.text)})
    assert redeemed.status_code == 303 and redeemed.headers["Location"].endswith("/studio/")
    assert client.get("/studio/api/session").get_json()["user"] == "ed@example.org"
    # a second POST (this browser or another) is refused, and so is a GET now
    again = studio.client()
    page = again.get("/studio/signin")
    assert again.post(f"/studio/signin/{token}", data={"csrf_token": csrf_of(page.text)}).status_code == 410
    assert client.get(f"/studio/signin/{token}").status_code == 410


def test_the_session_id_is_fresh_at_sign_in_and_only_its_hash_is_stored(studio):
    client, _ = studio.signed_in("ed@example.org")
    cookie = client.get_cookie("campaign_studio", path="/studio")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    with studio.store.engine.connect() as conn:
        hashes = [r.id_hash for r in conn.execute(select(studio_sessions))]
    assert len(hashes) == 1 and all(len(h) == 64 for h in hashes)


def test_an_expired_link_is_refused(studio):
    studio.add_user("ed@example.org")
    with time_machine.travel(datetime(2027, 9, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        token = studio.link_token("ed@example.org")
        client = studio.client()
        page = client.get(f"/studio/signin/{token}")
        assert page.status_code == 200
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert client.get(f"/studio/signin/{token}").status_code == 410
        assert client.post(f"/studio/signin/{token}", data={"csrf_token": csrf_of(page.text)}).status_code == 410
    assert studio.client().get("/studio/api/session").status_code == 401


def test_a_removed_users_link_and_session_are_refused(studio):
    client, csrf = studio.signed_in("ed@example.org")
    token = studio.link_token("ed@example.org")
    other = studio.client()
    page = other.get(f"/studio/signin/{token}")
    studio.ledger.remove_user("ed@example.org", at=datetime.now(UTC))
    assert client.get("/studio/api/session").status_code == 401  # the session is revoked at once
    assert other.post(f"/studio/signin/{token}", data={"csrf_token": csrf_of(page.text)}).status_code == 410
    # re-adding the address does not bring the old link back
    studio.add_user("ed@example.org")
    assert other.get(f"/studio/signin/{token}").status_code == 410


def test_a_session_idles_out_after_30_minutes(studio):
    with time_machine.travel(datetime(2027, 9, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        client, _ = studio.signed_in("ed@example.org")
        traveller.shift(timedelta(minutes=29))
        assert client.get("/studio/api/session").status_code == 200  # activity restarts the idle clock
        traveller.shift(timedelta(minutes=29))
        assert client.get("/studio/api/session").status_code == 200
        traveller.shift(timedelta(minutes=31))
        assert client.get("/studio/api/session").status_code == 401


def _request_link(client, address: str):
    page = client.get("/studio/signin")
    return client.post("/studio/signin", data={"email": address, "csrf_token": csrf_of(page.text)})


def test_the_sign_in_page_answers_the_same_for_known_and_unknown_addresses(studio):
    studio.add_user("ed@example.org")
    known = _request_link(studio.client(), "ed@example.org")
    unknown = _request_link(studio.client(), "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(csrf_of_or_empty(known.text), "") == unknown.text.replace(
        csrf_of_or_empty(unknown.text), ""
    )
    assert studio.app.extensions["studio"].mailer.flush(20)
    links = _outbox_links(studio.campaign)
    assert len(links) == 1  # only the known address got mail
    client = studio.client()
    page = client.get(links[0].replace(studio.app.extensions["studio"].studio_url, ""))
    assert page.status_code == 200
    path = "/studio/signin/" + links[0].rsplit("/", 1)[1]
    assert client.post(path, data={"csrf_token": csrf_of(page.text)}).status_code == 303


def csrf_of_or_empty(html: str) -> str:
    try:
        return csrf_of(html)
    except AssertionError:
        return "\0"


def test_five_link_requests_a_minute_per_address_then_refused(studio):
    studio.add_user("ed@example.org")
    answers = [
        _request_link(studio.client(), "ED@example.org" if i % 2 else "ed@example.org").status_code for i in range(7)
    ]
    assert answers == [200] * 5 + [429] * 2
    # another address is not affected; an unknown address is limited the same way
    assert _request_link(studio.client(), "ann@example.org").status_code == 200
    unknown = [_request_link(studio.client(), "nobody@example.org").status_code for _ in range(6)]
    assert unknown == [200] * 5 + [429]
    assert studio.app.extensions["studio"].mailer.flush(20)
    assert len(_outbox_links(studio.campaign)) == 5


def test_the_link_request_form_needs_its_csrf_token(studio):
    studio.add_user("ed@example.org")
    client = studio.client()
    assert client.post("/studio/signin", data={"email": "ed@example.org"}).status_code == 403


def test_hostile_sign_in_input_is_a_clean_answer(studio):
    client = studio.client()
    for address in ("", "a" * 10_000, "ed@example.org\r\nBcc: x@example.org", "\x00", "é@ü.example"):
        r = _request_link(client, address)
        assert r.status_code in (200, 429)
    assert client.get("/studio/signin/" + "x" * 5000).status_code == 410
    assert client.get("/studio/signin/%00").status_code == 410


def test_audit_records_sign_ins_failures_and_link_requests_without_tokens(studio):
    studio.add_user("ed@example.org")
    _request_link(studio.client(), "ed@example.org")
    client, _ = studio.signed_in("ed@example.org")
    token = studio.link_token("ed@example.org")
    bad = studio.client()
    page = bad.get(f"/studio/signin/{token}")
    bad.post(f"/studio/signin/{token}x", data={"csrf_token": csrf_of(page.text)})
    events = studio.ledger.audit_events()
    tags = [e.tag for e in events]
    assert tags == ["user:signin_link:requested", "user:signin:success", "user:signin:failure"]
    assert all(e.client == "127.0.0.1" for e in events)
    assert token not in repr(events)


def test_security_headers_on_studio_pages(studio):
    r = studio.client().get("/studio/signin")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"


def test_link_requests_are_limited_per_client_too(studio):
    answers = [_request_link(studio.client(), f"person{i}@example.org").status_code for i in range(22)]
    assert answers == [200] * 20 + [429] * 2
    assert [e.tag for e in studio.ledger.audit_events()][-2:] == ["user:signin_link:refused"] * 2


def test_a_session_ends_after_12_hours_however_active(studio):
    with time_machine.travel(datetime(2027, 9, 1, 8, 0, tzinfo=UTC), tick=False) as traveller:
        client, _ = studio.signed_in("ed@example.org")
        for _ in range(24):
            traveller.shift(timedelta(minutes=29))
            assert client.get("/studio/api/session").status_code == 200
        traveller.shift(timedelta(hours=1))
        assert client.get("/studio/api/session").status_code == 401


def test_signing_out_ends_the_session(studio):
    client, csrf = studio.signed_in("ed@example.org")
    assert client.post("/studio/signout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/studio/api/session").status_code == 401
    with studio.store.engine.connect() as conn:
        assert conn.execute(select(studio_sessions)).all() == []


def test_the_cookie_is_secure_when_the_studio_is_published_over_https(any_campaign_dir):
    any_campaign_dir.env["CAMPAIGN_STUDIO_URL"] = "https://studio.example.org"
    s = make_studio(any_campaign_dir)
    try:
        client, _ = s.signed_in("ed@example.org")
        cookie = client.get_cookie("campaign_studio", path="/studio")
        assert cookie is not None and cookie.secure
        assert s.link_token("ed@example.org")  # and links name the published address
        assert s.app.extensions["studio"].studio_url == "https://studio.example.org"
    finally:
        s.app.extensions["studio"].mailer.close()
        s.store.close()
