"""Hardening: security headers, size limits, no redirects anywhere, clean error pages, never a traceback."""

from __future__ import annotations

import http.client
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import text

from campaign.delivery.tokens import Tokens
from campaign.errors import ConfigurationError
from campaign.web import create_app
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, live_web

PAGES = ("/", "/subscribe", "/archive/", f"/unsubscribe/{Tokens(TEST_SECRET).unsubscribe(1)}", "/nope")


def _raw(url: str, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """A request exactly as written (requests would normalise paths like //evil.example)."""
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_every_page_carries_the_security_headers(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        for path in PAGES:
            response = requests.get(web.url + path, timeout=10, allow_redirects=False)
            h = response.headers
            csp = h["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
            if path == "/subscribe":  # its one nonce'd script fills in the time zone; nothing else may run
                assert "script-src 'nonce-" in csp and csp.count("script-src") == 1
            else:
                assert "script-src" not in csp, path  # no scripts at all
            assert "form-action 'self'" in csp and "base-uri 'none'" in csp
            assert h["X-Content-Type-Options"] == "nosniff"
            assert h["Referrer-Policy"] == "no-referrer"  # tokens never leak
            assert h["X-Frame-Options"] == "DENY"
            # Pages with tokens or forms are never cached; the public archive briefly.
            assert h["Cache-Control"] == ("public, max-age=300" if path == "/archive/" else "no-store")
            assert "Strict-Transport-Security" not in h  # plain http here
            nonce = csp.split("'nonce-")[1].split("'")[0]
            assert f'<style nonce="{nonce}">' in response.text


def test_error_pages_are_clean(campaign_dir):
    with live_web(campaign_dir) as web:
        health = requests.get(f"{web.url}/healthz", timeout=10)
        assert health.status_code == 200 and health.json() == {"ok": True}
        not_found = requests.get(f"{web.url}/no/such/page", timeout=10)
        assert not_found.status_code == 404 and "Page not found" in not_found.text
        wrong_method = requests.put(f"{web.url}/subscribe", timeout=10)
        assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
        assert "Not allowed" in wrong_method.text
        too_big = requests.post(
            f"{web.url}/webhooks/sendgrid",
            data=b"[" + b" " * (1536 * 1024) + b"]",
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert too_big.status_code == 413 and too_big.json()["status"] == 413
        big_form = requests.post(f"{web.url}/subscribe", data={"email": "x" * (1200 * 1024)}, timeout=30)
        assert big_form.status_code == 413 and "Too much data" in big_form.text
        for response in (not_found, wrong_method, too_big, big_form):
            assert "Traceback" not in response.text and "werkzeug" not in response.text.lower()


def test_an_internal_error_shows_no_stack_trace(campaign_dir, caplog):
    with live_web(campaign_dir) as web:
        with web.store.engine.begin() as conn:  # break the database under the running app
            conn.execute(text("DROP TABLE issues"))
        response = requests.get(f"{web.url}/archive/", timeout=10)
        assert response.status_code == 500
        assert "Something went wrong on our side" in response.text
        for leak in ("Traceback", "sqlite", "no such table", "SELECT", "OperationalError", str(campaign_dir.root)):
            assert leak not in response.text
        with web.store.engine.begin() as conn:
            conn.execute(text("DROP TABLE subscribers"))
        health = requests.get(f"{web.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json() == {"ok": False}  # the proxy waits; no stack trace
    assert any("unhandled error" in r.getMessage() for r in caplog.records)  # logged for the operator
    assert any("health check" in r.getMessage() for r in caplog.records)


def test_nothing_ever_redirects(campaign_dir):
    with live_web(campaign_dir) as web:
        probes = [
            ("GET", "/archive", {}),
            ("GET", "//evil.example/", {}),
            ("GET", "//evil.example/archive/", {}),
            ("GET", "/subscribe?next=https://evil.example/", {}),
            ("GET", "/subscribe/?next=//evil.example", {}),
            ("GET", "/archive", {"Host": "evil.example"}),
            ("GET", "/archive//2027-09-01", {}),
            ("GET", "/preview/", {}),
            ("GET", "/unsubscribe/abc?redirect=https://evil.example", {}),
            ("POST", "/unsubscribe/abc?next=https://evil.example", {}),
        ]
        for method, path, headers in probes:
            status, response_headers, body = _raw(web.url, method, path, headers)
            assert not (300 <= status < 400), (path, status)
            assert "Location" not in response_headers, path
            assert "evil.example" not in body, path


def test_one_click_responses_set_no_cookie_and_the_form_cookie_is_scoped(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        token = Tokens(TEST_SECRET).unsubscribe(1)
        for method, path in (
            ("GET", f"/unsubscribe/{token}"),
            ("POST", f"/unsubscribe/{token}"),
            ("GET", "/archive/"),
            ("GET", "/"),
        ):
            response = requests.request(method, web.url + path, data={"List-Unsubscribe": "One-Click"}, timeout=10)
            assert "Set-Cookie" not in response.headers, path
        cookie = requests.get(f"{web.url}/subscribe", timeout=10).headers["Set-Cookie"]
        assert "Path=/subscribe" in cookie and "HttpOnly" in cookie and "Secure" not in cookie  # http here


def test_behind_a_trusted_https_proxy(campaign_dir):
    env = {"CAMPAIGN_TRUSTED_PROXIES": "1", "CAMPAIGN_PUBLIC_URL": "https://news.example.org"}
    with live_web(campaign_dir, links_to_server=False, env=env) as web:
        proxied = requests.get(
            f"{web.url}/subscribe", timeout=10, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        )
        assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "Secure" in proxied.headers["Set-Cookie"]


def test_rate_limit_keys_on_the_forwarded_client_only_behind_a_trusted_proxy(campaign_dir):
    import re

    env = {"CAMPAIGN_TRUSTED_PROXIES": "1"}
    with live_web(campaign_dir, env=env, signups_per_client=(1, 600)) as web:

        def sign_up(client_ip: str, email: str) -> int:
            with requests.Session() as session:
                page = session.get(f"{web.url}/subscribe", timeout=10)
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                return session.post(
                    f"{web.url}/subscribe",
                    data={"csrf_token": token, "email": email},
                    headers={"X-Forwarded-For": client_ip},
                    timeout=10,
                ).status_code

        assert sign_up("203.0.113.1", "a@example.org") == 200
        assert sign_up("203.0.113.1", "b@example.org") == 429
        assert sign_up("203.0.113.2", "c@example.org") == 200  # another reader behind the same proxy


@pytest.mark.parametrize("value", ["many", "-1", "9"])
def test_a_bad_proxy_count_stops_start_up(campaign_dir, value):
    campaign_dir.env["CAMPAIGN_TRUSTED_PROXIES"] = value
    store = campaign_dir.store()
    try:
        with pytest.raises(ConfigurationError, match="CAMPAIGN_TRUSTED_PROXIES"):
            create_app(campaign_dir.settings, store)
    finally:
        store.close()


def test_a_chunked_body_without_a_length_is_cut_off_too(campaign_dir):
    """No Content-Length to refuse up front: the body is still bounded while it is read (per-provider cap for
    webhooks, the app's cap elsewhere) — a clean 413, never a 500 or an unbounded read."""
    with live_web(campaign_dir, env={"MAILGUN_WEBHOOK_SIGNING_KEY": "k" * 32}) as web:
        parsed = urlparse(web.url)
        for path, size, expected in (
            ("/webhooks/mailgun", 300 * 1024, 413),  # Mailgun's cap is 256 KB
            ("/webhooks/mailgun", 10, 401),
            ("/subscribe", 2 * 1024 * 1024, 413),
            ("/unsubscribe/abc", 2 * 1024 * 1024, 413),
        ):

            def chunks(size=size):
                for start in range(0, size, 65536):
                    yield b"[" * min(65536, size - start)

            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            try:
                conn.request(
                    "POST",
                    path,
                    body=chunks(),
                    headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                    encode_chunked=True,
                )
                response = conn.getresponse()
                assert response.status == expected, (path, size, response.status)
                assert b"Traceback" not in response.read()
            finally:
                conn.close()
