"""Engagement without following anyone: with `engagement: off` (the default) no email of any day or variant
holds a pixel, a redirect or any URL carrying a reader's id or address besides their unsubscribe and
preferences links; with `aggregate`, article and archive links count per day and link through /r/ and
redirect, crisis links are never rewritten, opens count per day and variant, provider open/click webhooks
become per-day counts, and `campaign report` shows it all without a subscriber field."""

from __future__ import annotations

import json
import re
from datetime import date

import requests
from sqlalchemy import select

from campaign.delivery.tokens import Tokens
from campaign.ledger.schema import engagement_counts, events
from campaign.series.engagement import article_links, track
from campaign.series.links import preferences_url, unsubscribe_url
from tests.conftest import TEST_SECRET, people
from tests.web_live import add_subscribers, eml_for, live_web, parts, read_eml

DAY3 = date(2027, 9, 3)
URL = re.compile(r"""(?:href|src)="([^"]*)"|(https?://[^\s<>"']+)""", re.IGNORECASE)


def _aggregate(cdir) -> None:
    cdir.edit_schedule("  default_country: US", "  default_country: US\n  engagement: aggregate\n  opens: aggregate")


def test_off_no_email_of_any_day_or_variant_tracks_anyone(campaign_dir):
    project = campaign_dir.project()
    assert project.schedule.campaign.engagement == "off"
    public = project.settings.public_url
    sid, address = 4242, "reader4242@example.org"
    tokens = Tokens(TEST_SECRET)
    variants = sorted({*project.crisis.countries, "INTL"})
    checked = 0
    for day in project.schedule.dates:
        allowed = {
            unsubscribe_url(public, tokens.unsubscribe(sid)),
            preferences_url(public, tokens.preferences(sid, day)),
        }
        for variant in variants:
            issue = project.render(day, variant)
            html, text = issue.merge(unsubscribe_url=sorted(allowed)[1], name="Ann", preferences_url=sorted(allowed)[0])
            assert "<img" not in html.lower() or public not in html.split("<img", 1)[1].split(">", 1)[0]
            for match in URL.finditer(html + "\n" + text):
                url = (match.group(1) or match.group(2)).replace("&amp;", "&")
                assert "/r/" not in url and "/o/" not in url, (day, variant, url)
                assert address not in url and "reader4242" not in url, (day, variant, url)
                if url.startswith(public) and url not in allowed:
                    # our own links: the archive and the sign-up page only — nothing per reader
                    assert re.fullmatch(re.escape(public) + r"/(archive/(\d{4}-\d{2}-\d{2})?|subscribe)", url), url
            imgs = re.findall(r"<img\b[^>]*>", html, re.IGNORECASE)
            assert not [i for i in imgs if public in i or "127.0.0.1" in i], (day, variant, imgs)
            checked += 1
    assert checked == len(project.schedule.dates) * len(variants)


def test_off_a_real_send_carries_only_the_two_tokens(campaign_dir):
    add_subscribers(campaign_dir, people(2))
    campaign_dir.run("send", "1", "--yes", check=True)
    message = read_eml(eml_for(campaign_dir.outbox / "2027-09-01", "reader00001@example.org"))
    html, text = parts(message)
    ours = {
        (m.group(1) or m.group(2)).replace("&amp;", "&")
        for m in URL.finditer(html + "\n" + text)
        if "news.example.org" in (m.group(1) or m.group(2))
    }
    per_reader = {u for u in ours if "/unsubscribe/" in u or "/preferences/" in u}
    assert len(per_reader) == 2 and all("/r/" not in u for u in ours)
    assert ours - per_reader == {"https://news.example.org/archive/2027-09-01"}


def test_aggregate_counts_a_click_per_day_and_link_and_never_touches_crisis_links(campaign_dir):
    _aggregate(campaign_dir)
    add_subscribers(campaign_dir, people(2))
    with live_web(campaign_dir) as web:
        campaign_dir.run("send", "3", "--yes", check=True)
        message = read_eml(eml_for(campaign_dir.outbox / DAY3.isoformat(), "reader00001@example.org"))
        html, text = parts(message)
        link = f"{web.url}/r/2027-09-03/archive"
        assert f'href="{link}"' in html and f"View in your browser: {link}" in text
        other = parts(read_eml(eml_for(campaign_dir.outbox / DAY3.isoformat(), "reader00002@example.org")))[0]
        assert f'href="{link}"' in other  # the same URL for every reader
        # crisis links untouched
        assert 'href="tel:988"' in html and 'href="sms:741741' in html
        assert 'href="https://988lifeline.org"' in html and 'href="https://findahelpline.com"' in html
        # one pixel per day and variant, the same for everyone
        pixel = f"{web.url}/o/2027-09-03/US.gif"
        assert html.count(pixel) == 1 and other.count(pixel) == 1

        answer = requests.get(link, allow_redirects=False, timeout=10, headers={"User-Agent": "Secret/1.0"})
        assert answer.status_code == 302 and answer.headers["Location"] == f"{web.url}/archive/2027-09-03"
        assert "Set-Cookie" not in answer.headers
        gif = requests.get(pixel, timeout=10)
        assert gif.status_code == 200 and gif.headers["Content-Type"] == "image/gif"
        for bad in (
            "/r/2027-09-03/l-0123456789",
            "/r/2027-09-04/archive",
            "/r/2027-13-03/archive",
            "/r/x/y",
            "/o/2027-09-03/XX.gif",
            "/o/2027-09-09/US.gif",
        ):
            assert requests.get(web.url + bad, allow_redirects=False, timeout=10).status_code == 404, bad
        with web.store.engine.connect() as conn:
            rows = {(r.day, r.kind, r.name): r.count for r in conn.execute(select(engagement_counts))}
        assert rows == {(DAY3, "click", "archive"): 1, (DAY3, "open", "US"): 1}

    report = campaign_dir.run("report", "--json", check=True)
    data = json.loads(report.stdout)
    (day3,) = [d for d in data["days"] if d["day"] == "2027-09-03"]
    assert day3["clicks"] == {"archive": 1} and day3["opens"] == 1 and day3["delivered"] == 2
    assert "reader0000" not in report.stdout and "subscriber" not in report.stdout and "Secret" not in report.stdout
    table = campaign_dir.run("report", check=True)
    assert "2027-09-03" in table.stdout and "archive: 1" in table.stdout and "approximate" in table.stdout


def test_the_rewrite_leaves_crisis_links_placeholders_and_other_sites_alone():
    public = "https://news.example.org"
    html = (
        '<a href="https://example.com/study">study</a> <a href="https://988lifeline.org/chat">chat</a> '
        '<a href="tel:988">988</a> <a href="sms:741741">text</a> <a href="__UNSUBSCRIBE_URL__">u</a> '
        '<a href="https://elsewhere.example/x">x</a> <a href="https://news.example.org/archive/2027-09-03">v</a>'
        "</body>"
    )
    text = "Study: https://example.com/study\nView: https://news.example.org/archive/2027-09-03\n"
    out_html, out_text = track(
        html,
        text,
        day=DAY3,
        variant="US",
        public_url=public,
        article_urls=article_links(
            '<a href="https://example.com/study">s</a> <a href="https://988lifeline.org/chat">c</a>'
        ),
        crisis_urls={"https://988lifeline.org"},
        opens=False,
    )
    assert "https://example.com/study" not in out_html and "https://example.com/study" not in out_text
    assert out_html.count("https://news.example.org/r/2027-09-03/") == 2 and "<img" not in out_html
    for kept in (
        "https://988lifeline.org/chat",
        "tel:988",
        "sms:741741",
        "__UNSUBSCRIBE_URL__",
        "https://elsewhere.example/x",
    ):
        assert f'href="{kept}"' in out_html


def test_provider_open_and_click_events_become_per_day_counts(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    env = {"POSTMARK_WEBHOOK_USER": "hooks", "POSTMARK_WEBHOOK_PASSWORD": "s3cret-pass"}
    with live_web(campaign_dir, env=env) as web:
        url, auth = f"{web.url}/webhooks/postmark", ("hooks", "s3cret-pass")
        for record in ("Open", "Click", "Open"):
            event = {
                "RecordType": record,
                "Recipient": "reader00001@example.org",
                "Tag": "2027-09-03",
                "Metadata": {"issue": "2027-09-03", "subscriber_id": "1"},
                "UserAgent": "Mozilla/5.0",
                "Geo": {"IP": "192.0.2.1"},
                "OriginalLink": "https://988lifeline.org",
            }
            assert requests.post(url, json=event, auth=auth, timeout=10).status_code == 200
        with web.store.engine.connect() as conn:
            assert conn.execute(select(events)).all() == []  # nothing per recipient kept
            rows = {(r.day, r.kind, r.name): r.count for r in conn.execute(select(engagement_counts))}
        assert rows == {(DAY3, "provider_open", "postmark"): 2, (DAY3, "provider_click", "postmark"): 1}


def test_the_chart_page_is_behind_the_metrics_token(campaign_dir):
    add_subscribers(campaign_dir, people(1))
    campaign_dir.run("send", "1", "--yes", check=True)
    with live_web(campaign_dir) as web:
        assert requests.get(f"{web.url}/metrics/engagement", timeout=10).status_code == 404  # no token set
    with live_web(campaign_dir, env={"CAMPAIGN_METRICS_TOKEN": "m" * 32}) as web:
        page = f"{web.url}/metrics/engagement"
        assert requests.get(page, timeout=10).status_code == 401
        assert requests.get(page, params={"token": "x"}, timeout=10).status_code == 401
        ok = requests.get(page, headers={"Authorization": "Bearer " + "m" * 32}, timeout=10)
        assert ok.status_code == 200 and "<svg" in ok.text and "2027-09-01" in ok.text
        assert "reader00001" not in ok.text and "approximate" in ok.text


def test_aggregate_a_click_on_an_article_link_counts_once_for_its_day_and_redirects(campaign_dir):
    _aggregate(campaign_dir)
    article = campaign_dir.root / "content" / "article.md"
    source = article.read_text(encoding="utf-8")
    sentence = "Over 264 million people of all ages suffer from depression worldwide."
    linked = "Over 264 million people of all ages suffer from [depression](https://www.who.int/news-room/fact-sheets/detail/depression) worldwide."
    article.write_text(source.replace(sentence, linked, 1), encoding="utf-8")
    project = campaign_dir.project()
    target = "https://www.who.int/news-room/fact-sheets/detail/depression"
    (day,) = [d for d in project.schedule.dates if target in project.content_for(d).part_html]
    add_subscribers(campaign_dir, people(1))
    with live_web(campaign_dir) as web:
        number = project.schedule.day_number(day)
        campaign_dir.run("send", str(number), "--yes", check=True)
        html, text = parts(read_eml(eml_for(campaign_dir.outbox / day.isoformat(), "reader00001@example.org")))
        assert target not in html and target not in text  # counted links only go through /r/
        (link,) = set(re.findall(re.escape(web.url) + r"/r/" + day.isoformat() + r"/l-[0-9a-f]{10}", html))
        assert link in text
        answer = requests.get(link, allow_redirects=False, timeout=10)
        assert answer.status_code == 302 and answer.headers["Location"] == target
        link_id = link.rsplit("/", 1)[1]
        with web.store.engine.connect() as conn:
            rows = {(r.day, r.kind, r.name): r.count for r in conn.execute(select(engagement_counts))}
        assert rows == {(day, "click", link_id): 1}
    data = json.loads(campaign_dir.run("report", "--json", check=True).stdout)
    assert [d["clicks"] for d in data["days"] if d["day"] == day.isoformat()] == [{link_id: 1}]
