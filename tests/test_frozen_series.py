"""Issue 9 #1 end to end: days 1–5 sent, then a day removed and an unsent paragraph edited, then the rest
sent — every reader's emails hold the final article exactly once, in order, and the sent days still look as
they went out (preview and archive)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from campaign.delivery.as_sent import load_project_as_sent
from campaign.delivery.sender import Sender
from campaign.providers.outbox import OutboxProvider
from tests.conftest import people
from tests.scheduler_helpers import import_people, plain_text
from tests.test_frozen import _edit_paragraph, _paragraph_of, _remove_day
from tests.web_live import live_web

READERS = 20


def _send(campaign_dir, day) -> None:
    store = campaign_dir.store()
    try:
        project = load_project_as_sent(campaign_dir.settings, store)
        provider = OutboxProvider(campaign_dir.outbox)
        report = Sender(project, store, provider).send_day(day)
        assert report.sent == READERS, report.summary()
    finally:
        store.close()


def _comparable(text: str) -> str:
    """The issue without what differs per recipient (greeting, unsubscribe and preferences links)."""
    text = re.sub(r"https://\S+/unsubscribe/\S+", "UNSUBSCRIBE", text.replace("\r\n", "\n"))
    text = re.sub(r"https://\S+/preferences/\S+", "PREFERENCES", text)
    return re.sub(r"^(Hi|Dear|Hello) [^\n,]*,", r"\1 NAME,", text, flags=re.M)


@pytest.mark.slow
def test_a_mid_series_edit_loses_no_paragraph_and_keeps_sent_days_as_sent(campaign_dir):
    import_people(campaign_dir, people(READERS))
    first = campaign_dir.project()
    for part in first.plan.parts[:5]:
        _send(campaign_dir, part.day)
    sent_texts = {
        p.day: plain_text(sorted((campaign_dir.outbox / str(p.day)).glob("*.eml"))[0]) for p in first.plan.parts[:5]
    }

    _remove_day(campaign_dir)
    _edit_paragraph(campaign_dir, _paragraph_of(first.plan, 9))
    assert campaign_dir.run("validate").returncode == 0
    plan = campaign_dir.run("plan", check=True)
    assert plan.stdout.count("sent") >= 5

    store = campaign_dir.store()
    try:
        final = load_project_as_sent(campaign_dir.settings, store)
    finally:
        store.close()
    assert len(final.plan.parts) == 29
    for part in final.plan.parts[5:]:
        _send(campaign_dir, part.day)

    # every reader: the final article, block by block, exactly once and in order, across their emails
    for reader in people(READERS):
        files = sorted(Path(campaign_dir.outbox).glob(f"*/*-{reader['email']}.eml"))
        assert len(files) == 29
        texts = [plain_text(f) for f in files]  # folders are dates: this is send order
        texts = ["\n".join(line for line in t.splitlines() if not line.endswith(" (continued)")) for t in texts]
        position = 0
        for block in final.article.blocks:
            for line in block.text.split("\n"):
                holders = [i for i, t in enumerate(texts) if line in t]
                assert len(holders) == 1, (reader["email"], line[:60], holders)
                assert holders[0] >= position, f"out of order: {line[:60]}"
                position = holders[0]

    # days 1–5 afterwards: `campaign preview` and the archive show what was sent
    for number, (day, sent) in enumerate(sent_texts.items(), start=1):
        path = campaign_dir.root / campaign_dir.run("preview", str(number), check=True).stdout.strip().splitlines()[-1]
        preview_text = path.with_name("email.txt").read_text(encoding="utf-8")
        assert f"Day {number} of 30" in preview_text
        assert _comparable(preview_text) == _comparable(sent)
    # the studio's preview (`campaign studio`) reads the ledger too: sent days as they went out
    from tests.studio_helpers import make_studio

    studio = make_studio(campaign_dir)
    try:
        client, csrf = studio.signed_in("ed@example.org")
        for number, day in enumerate(sent_texts, start=1):
            answer = client.post("/studio/api/preview", json={"date": str(day)}, headers={"X-CSRF-Token": csrf})
            assert answer.get_json()["read_only"] and f"Day {number} of 30" in answer.get_json()["html"]
        later = client.post(
            "/studio/api/preview", json={"date": str(final.plan.parts[6].day)}, headers={"X-CSRF-Token": csrf}
        ).get_json()
        assert later["ok"], later["findings"]
        assert "Day 7" in later["text"] and "Day 7 of" not in later["text"]
    finally:
        studio.app.extensions["studio"].mailer.close()
        studio.store.close()
    with live_web(campaign_dir) as site:
        for day in sent_texts:
            page = requests.get(f"{site.url}/archive/{day}", timeout=10)
            assert page.status_code == 200
            number = list(sent_texts).index(day) + 1
            assert f"Day {number} of 30" in page.text


def test_a_sender_refuses_a_project_loaded_without_the_ledger_and_sends_the_as_sent_one(campaign_dir):
    """Library use: `load_project` alone knows nothing of the days sent. The sender never re-plans the project it
    is given: handed one that lacks days the ledger started, it refuses (StaleProject) before anything is frozen
    or sent; `load_project_as_sent` is the project to give it, and an edit made since never re-splits what went
    out."""
    from campaign.errors import StaleProject
    from campaign.series.project import load_project

    import_people(campaign_dir, people(3))
    first = campaign_dir.project()
    store = campaign_dir.store()
    try:
        for part in first.plan.parts[:3]:
            project = load_project_as_sent(campaign_dir.settings, store)
            Sender(project, store, OutboxProvider(campaign_dir.outbox)).send_day(part.day)
        _remove_day(campaign_dir)  # without the ledger, every later day would now be split differently
        naive = load_project(campaign_dir.settings)
        day4 = first.plan.parts[3].day
        with pytest.raises(StaleProject):
            Sender(naive, store, OutboxProvider(campaign_dir.outbox)).send_day(day4)
        assert not (campaign_dir.outbox / str(day4)).exists() and store.edition(day4) is None
        as_sent = load_project_as_sent(campaign_dir.settings, store)
        Sender(as_sent, store, OutboxProvider(campaign_dir.outbox)).send_day(day4)
        # the files alone would now say "Day 4 of 29", contradicting the "of 30" already in inboxes
        assert naive.plan.part_for(day4).total == 29 and as_sent.plan.part_for(day4).total is None
        sent = plain_text(sorted((campaign_dir.outbox / str(day4)).glob("*.eml"))[0])
        assert "Day 4" in sent and "Day 4 of" not in sent
    finally:
        store.close()
