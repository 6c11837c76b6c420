"""Sending through the outbox: exactly once per subscriber, opt-outs respected, RFC 5322/8058 headers."""

from __future__ import annotations

import email
from email import policy
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

from campaign.delivery.sender import Sender
from campaign.delivery.tokens import Tokens
from campaign.providers.outbox import OutboxProvider
from tests.conftest import TEST_SECRET, people


def emls(campaign_dir, day: str):
    folder = campaign_dir.outbox / day
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def parse(path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_fifty_subscribers_get_day_one_once_and_an_unsubscribe_is_respected(campaign_dir):
    csv = campaign_dir.write_csv(people(50))
    campaign_dir.run("subscribers", "import", str(csv), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)
    files = emls(campaign_dir, "2027-09-01")
    assert len(files) == 50
    tokens = Tokens(TEST_SECRET)
    for path in files:
        msg = parse(path)
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        unsubscribe = msg["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://") and unsubscribe.endswith(">") and unsubscribe.count("<") == 1
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = unsubscribe[1:-1]
        token = urlparse(url).path.rsplit("/", 1)[1]
        assert tokens.read_unsubscribe(token) is not None  # signed, identifies the subscriber
        to = msg["To"].addresses[0].addr_spec
        assert to.split("@")[0] not in token  # but does not show the address
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "Reply-To", "Feedback-ID"):
            assert msg[header], header
        assert msg["Feedback-ID"].split(":")[0] == "2027-09-01" and len(msg["Feedback-ID"].split(":")) == 4
        raw = path.read_bytes()
        qp_lines = [line for line in raw.split(b"\r\n") if len(line) > 76 and not line[:1].isalpha()]
        assert not qp_lines, qp_lines[:1]  # body lines (quoted-printable) never exceed 76 characters
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert url in text and f'href="{url}"' in html  # visible unsubscribe = header URL
        assert "988" in text and "findahelpline.com" in html
    assert len({parse(p)["Message-ID"] for p in files}) == 50

    again = campaign_dir.run("send", "1", "--yes", check=True)
    assert "0 owed" in again.stdout and len(emls(campaign_dir, "2027-09-01")) == 50

    campaign_dir.run("subscribers", "unsubscribe", "reader00007@example.org", check=True)
    campaign_dir.run("send", "2", "--yes", check=True)
    day_two = emls(campaign_dir, "2027-09-02")
    assert len(day_two) == 49
    assert not any("reader00007" in p.name for p in day_two)


def test_dry_run_reports_counts_and_writes_nothing(campaign_dir):
    campaign_dir.run(
        "subscribers",
        "import",
        str(campaign_dir.write_csv(people(3) + [{"email": "gb@example.org", "country": "GB"}])),
        check=True,
    )
    result = campaign_dir.run("send", "2027-09-03", "--dry-run", check=True)
    assert "would go to 4 subscriber(s)" in result.stdout and "GB: 1" in result.stdout and "US: 3" in result.stdout
    assert emls(campaign_dir, "2027-09-03") == []
    with_store = campaign_dir.store()
    try:
        assert with_store.delivery_counts() == {}
    finally:
        with_store.close()


def test_a_test_send_does_not_touch_the_ledger(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(2))), check=True)
    result = campaign_dir.run("send", "4", "--to", "editor@example.org", "--country", "AU", check=True)
    assert "editor@example.org" in result.stdout
    [path] = emls(campaign_dir, "2027-09-04")
    msg = parse(path)
    assert msg["Subject"].startswith("[Test] ") and "13 11 14" in msg.get_body(("plain",)).get_content()
    campaign_dir.run("send", "4", "--yes", check=True)
    assert len(emls(campaign_dir, "2027-09-04")) == 3  # the test copy did not use up anyone's delivery


def test_suppressed_subscribers_are_never_sent_to(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(4))), check=True)
    store = campaign_dir.store()
    try:
        for email_, status in (
            ("reader00001@example.org", "bounced"),
            ("reader00002@example.org", "complained"),
            ("reader00003@example.org", "unsubscribed"),
        ):
            store.suppress(store.subscriber_by_email(email_).id, status, "test")
    finally:
        store.close()
    campaign_dir.run("send", "1", "--yes", check=True)
    assert [p.name.split("-", 1)[1] for p in emls(campaign_dir, "2027-09-01")] == ["reader00004@example.org.eml"]


def test_status_shows_sent_and_owed_per_day(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(6))), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)
    result = campaign_dir.run("status", check=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("│") and "Sep" in line]
    day1 = [c.strip() for c in lines[0].split("│") if c.strip()]
    day2 = [c.strip() for c in lines[1].split("│") if c.strip()]
    assert day1[0] == "1" and day1[3:5] == ["6", "0"]  # sent 6, owed 0
    assert day2[0] == "2" and day2[3:5] == ["0", "6"]  # sent 0, owed 6


def test_render_once_per_variant_merge_per_recipient(campaign_dir):
    rows = (
        people(30)
        + [{"email": f"gb{i}@example.org", "country": "GB"} for i in range(10)]
        + [{"email": f"de{i}@example.org", "country": "DE"} for i in range(5)]
    )
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(rows)), check=True)
    project, store = campaign_dir.project(), campaign_dir.store()
    try:
        report = Sender(project, store, OutboxProvider(campaign_dir.outbox)).send_day(project.schedule.dates[0])
    finally:
        store.close()
    assert report.sent == 45
    day = project.schedule.dates[0]
    # every crisis variant is rendered once when the day starts, stored with it, and merged per recipient
    variants = sorted({project.variant_for(c) for c in project.crisis.countries} | {"INTL"})
    assert sorted(k[1] for k in project._rendered if k[0] == day and not k[2]) == variants
    stored = campaign_dir.store()
    try:
        assert sorted(stored.edition(day)["parts"]) == variants
    finally:
        stored.close()
    de = [p for p in emls(campaign_dir, str(day)) if "-de" in p.name]
    assert len(de) == 5 and "findahelpline.com" in parse(de[0]).get_body(("plain",)).get_content()
