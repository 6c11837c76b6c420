"""The archive ("view in browser"): only days already sent, their stored web version, no personal data."""

from __future__ import annotations

import re
from datetime import date

import requests

from tests.conftest import people
from tests.web_live import add_subscribers, eml_for, live_web, parts, path_of, read_eml

DAY1 = date(2027, 9, 1)


def test_the_view_in_browser_link_of_a_sent_day_shows_the_issue_and_later_days_are_404(campaign_dir):
    add_subscribers(campaign_dir, people(2))
    with live_web(campaign_dir) as web:
        empty = requests.get(f"{web.url}/archive/", timeout=10)
        assert empty.status_code == 200 and "No issue has been sent yet" in empty.text
        assert requests.get(f"{web.url}/archive/2027-09-01", timeout=10).status_code == 404

        campaign_dir.run("send", "1", "--yes", check=True)
        html, text = parts(read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), "reader00001@example.org")))
        link = re.search(r"View in your browser: (\S+)", text).group(1)
        assert link == f"{web.url}/archive/2027-09-01"
        assert f'href="{link}"' in html

        issue = requests.get(link, timeout=10)
        assert issue.status_code == 200 and issue.headers["Content-Type"].startswith("text/html")
        page = issue.text
        assert "Welcome: a month of hope, learning and support" in page
        assert "988 Suicide &amp; Crisis Lifeline" in page  # crisis block
        assert "Medical disclaimer." in page  # disclaimer
        assert f'href="{web.url}/subscribe"' in page  # a sign-up link...
        assert "/unsubscribe/" not in page and "__UNSUBSCRIBE_URL__" not in page  # ...instead of unsubscribe
        assert "reader0000" not in page and "Reader 1" not in page and "__NAME" not in page
        csp = issue.headers["Content-Security-Policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp

        listing = requests.get(f"{web.url}/archive/", timeout=10)
        assert 'href="/archive/2027-09-01"' in listing.text
        assert "2027-09-02" not in listing.text
        assert requests.get(f"{web.url}/archive", timeout=10, allow_redirects=False).status_code == 200

        for missing in ("2027-09-02", "2027-08-31", "2027-13-45", "yesterday", "2027-9-1"):
            response = requests.get(f"{web.url}/archive/{missing}", timeout=10, allow_redirects=False)
            assert response.status_code == 404, missing
            assert "Traceback" not in response.text


def test_a_view_in_browser_link_uses_the_public_url_path(campaign_dir):
    """Behind a proxy the links carry CAMPAIGN_PUBLIC_URL; the path alone is what reaches the app."""
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir, links_to_server=False) as web:
        campaign_dir.run("send", "1", "--yes", check=True)
        _, text = parts(read_eml(eml_for(campaign_dir.outbox / DAY1.isoformat(), "reader00001@example.org")))
        link = re.search(r"View in your browser: (\S+)", text).group(1)
        assert link.startswith("https://news.example.org/archive/")
        assert requests.get(web.url + path_of(link), timeout=10).status_code == 200
