"""A day renders once, into the ledger: every later send, worker and archive page of that day merges into the
stored edition, from any folder — even an empty one — and template edits after the start never change it."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import threading
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import requests

from campaign.config import load_settings
from campaign.delivery.sender import Sender
from campaign.providers import make_provider
from campaign.series.project import load_project
from tests.conftest import CAMPAIGN_BIN, people
from tests.provider_servers import FakePostmark, go_live, ledger
from tests.web_live import live_web

DAY1, DAY2 = date(2027, 9, 1), date(2027, 9, 2)
MARKER = "TEMPLATE-EDITED-AFTER-DAY-1"


def add_marker(campaign_dir) -> None:
    """A visible change to the issue layout, made after day 1 started."""
    path = campaign_dir.root / "templates" / "base.mjml.j2"
    text = path.read_text(encoding="utf-8")
    closing = "{% endblock %}\n  </mj-body>"
    assert text.count(closing) == 1
    marked = f"{{% endblock %}}<mj-section><mj-column><mj-text>{MARKER}</mj-text></mj-column></mj-section></mj-body>"
    path.write_text(text.replace(closing, marked), encoding="utf-8")


def run_in(folder: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """The real `campaign` command in `folder` (an empty one: no schedule.yaml, content or templates)."""
    return subprocess.run([str(CAMPAIGN_BIN), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=180)


def impersonal(message) -> tuple[str, str]:
    """(html, text) of one delivered email with its per-recipient values taken out: the unsubscribe URL and the
    greeting name — what is left must be the same for every reader of the day and variant."""
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    return without_personal_values(html, text, re.search(r"<([^>]+)>", message["List-Unsubscribe"]).group(1))


def without_personal_values(html: str, text: str, unsubscribe: str) -> tuple[str, str]:
    """The email with the reader's own unsubscribe and preferences links and name replaced by markers."""
    preferences = re.search(r"https://\S+/preferences/[\w.\-]+", text).group(0)
    name = re.search(r"^Hi (.+?),", text, re.M).group(1)
    for needle, marker in ((unsubscribe, "UNSUB"), (preferences, "PREFS")):
        for form in (needle, needle.replace("&", "&amp;")):
            html, text = html.replace(form, marker), text.replace(form, marker)
    return html.replace(f"Hi {name},", "Hi NAME,"), text.replace(f"Hi {name},", "Hi NAME,")


def outbox_emails(campaign_dir, day: date) -> dict[str, email.message.EmailMessage]:
    found = {}
    for path in sorted((campaign_dir.outbox / day.isoformat()).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[str(message["To"])] = message
    return found


def test_a_started_day_goes_out_from_its_stored_render_even_from_an_empty_folder(any_campaign_dir, tmp_path):
    campaign_dir = any_campaign_dir
    first = people(10, country="US")
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(first)), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)

    add_marker(campaign_dir)  # the templates change after day 1 started...
    later = [{"email": f"late{i}@example.org", "name": f"Late {i}", "country": "US"} for i in range(5)]
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(later, "later.csv")), check=True)

    empty = tmp_path / "empty-host"
    empty.mkdir()
    result = run_in(empty, campaign_dir.env, "send", "1", "--yes")  # ...and a host without any campaign files
    assert result.returncode == 0, result.stderr
    assert "sent 5" in result.stdout
    assert list(empty.iterdir()) == []  # nothing was written in the empty folder

    sent = outbox_emails(campaign_dir, DAY1)
    assert len(sent) == 15
    bodies = {to: impersonal(message) for to, message in sent.items()}
    assert len(set(bodies.values())) == 1  # byte-identical once the per-recipient values are taken out
    assert all(MARKER not in html and MARKER not in text for html, text in bodies.values())
    assert len({message["List-Id"] for message in sent.values()}) == 1

    campaign_dir.run("send", "2", "--yes", check=True)  # day 2 starts after the edit: it has the marker
    day2 = outbox_emails(campaign_dir, DAY2)
    assert len(day2) == 15 and all(MARKER in impersonal(m)[0] for m in day2.values())

    with live_web(campaign_dir) as web:  # the archive shows the stored render, not today's templates
        page = requests.get(f"{web.url}/archive/{DAY1}", timeout=10)
        assert page.status_code == 200 and "Welcome: a month of hope" in page.text and MARKER not in page.text
        assert MARKER in requests.get(f"{web.url}/archive/{DAY2}", timeout=10).text

    preview = Path(campaign_dir.run("preview", "1", check=True).stdout.strip())  # the preview of a sent day too
    assert MARKER not in (campaign_dir.root / preview).read_text(encoding="utf-8")
    campaign_dir.run("build", "--out", "built", check=True)
    assert MARKER not in (campaign_dir.root / "built" / str(DAY1) / "email.html").read_text(encoding="utf-8")
    assert MARKER in (campaign_dir.root / "built" / "2027-09-03" / "email.html").read_text(encoding="utf-8")

    status = campaign_dir.run("status", check=True, env={"COLUMNS": "250"}).stdout
    assert "stored render (every later send, worker and archive page of the day uses it): day(s) 1–2" in status
    assert "sent (stored render)" in campaign_dir.run("plan", check=True, env={"COLUMNS": "250"}).stdout


def test_an_empty_folder_cannot_start_a_day_and_says_how(campaign_dir, tmp_path):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(2))), check=True)
    empty = tmp_path / "empty-host"
    empty.mkdir()
    result = run_in(empty, campaign_dir.env, "send", "3", "--yes")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'3' is not a day whose send has started" in result.stderr and "campaign folder" in result.stderr
    assert not (campaign_dir.outbox / "2027-09-03").exists()


def test_a_crisis_variant_added_after_the_start_is_rendered_once_stored_and_reused(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(3, country="US"))), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)
    store = campaign_dir.store()
    try:
        record = store.edition(DAY1)
        del record["parts"]["GB"]  # as if GB had joined the crisis list after day 1 started
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE issues SET edition = ? WHERE day = ?", (json.dumps(record), DAY1))
        assert "GB" not in store.edition(DAY1)["parts"]
    finally:
        store.close()
    gb = [{"email": f"gb{i}@example.org", "name": f"GB {i}", "country": "GB"} for i in range(3)]
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(gb, "gb.csv")), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)
    store = campaign_dir.store()
    try:
        stored = store.edition(DAY1)["parts"]["GB"]
    finally:
        store.close()
    sent = {to: m for to, m in outbox_emails(campaign_dir, DAY1).items() if re.search(r"\bgb\d@", to)}
    assert len(sent) == 3 and "Samaritans" in stored["text"]
    assert {impersonal(m)[1] for m in sent.values()} == {impersonal(next(iter(sent.values())))[1]}


@pytest.mark.slow
def test_two_workers_from_two_empty_folders_share_a_started_day_and_send_one_email(pg_campaign_dir, tmp_path):
    campaign_dir = go_live(pg_campaign_dir)
    campaign_dir.edit_schedule(
        "  default_country: US", "  default_country: US\n  rate_limit: 1000000\n  concurrency: 1"
    )
    rows = people(3000, country="US") + [{"email": f"gb{i}@example.org", "country": "GB"} for i in range(40)]
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(rows)), check=True)
    with FakePostmark(delay=0.5) as server:  # 7 batches, one at a time per worker: both get some
        env = {"CAMPAIGN_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "test-key", "POSTMARK_API_URL": server.url}
        campaign_dir.env.update(env)
        settings = load_settings(campaign_dir.root, campaign_dir.env)
        project = load_project(settings)
        store = campaign_dir.store()
        try:  # the day starts on the organiser's host: stored render, queue
            sender = Sender(project, store, make_provider("postmark", settings, project.schedule.campaign))
            assert sender.start_day(DAY1) == 3040
        finally:
            store.close()
        add_marker(campaign_dir)

        folders = [tmp_path / "host-a", tmp_path / "host-b"]
        results: list[subprocess.CompletedProcess] = []

        def work(folder: Path) -> None:
            folder.mkdir()
            results.append(run_in(folder, campaign_dir.env, "worker", "--once"))

        threads = [threading.Thread(target=work, args=(f,)) for f in folders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]

        store = campaign_dir.store()
        try:
            assert ledger(store, DAY1) == Counter({"sent": 3040})
            hosts = {row.worker_id.rsplit(":", 1)[0] for row in store.deliveries_for(DAY1)}
        finally:
            store.close()
        assert len(hosts) == 2  # both workers took part
        assert set(server.counts().values()) == {1} and len(server.counts()) == 3040

        by_variant: dict[str, set] = {}
        for request in server.requests_to("/email/batch"):
            for message in json.loads(request.body):
                url = next(h["Value"] for h in message["Headers"] if h["Name"] == "List-Unsubscribe").strip("<>")
                html, text = without_personal_values(message["HtmlBody"], message["TextBody"], url)
                variant = "GB" if re.search(r"\bgb\d+@", message["To"]) else "US"
                by_variant.setdefault(variant, set()).add((html, text))
        assert {v: len(bodies) for v, bodies in by_variant.items()} == {"US": 1, "GB": 1}
        assert all(MARKER not in html for bodies in by_variant.values() for html, _ in bodies)


def test_two_processes_adding_different_variants_keep_both(db_url):
    """Compare-and-set: a variant added while another process added a different one is added to that record,
    so neither is lost (each is rendered once, by whichever process needed it first)."""
    from datetime import UTC, datetime

    from campaign.ledger.store import Store

    stores = [Store.open(db_url) for _ in range(2)]
    try:
        record = {"web_html": "<p>web</p>", "parts": {"US": {"html": "<p>US</p>", "text": "US"}}}
        stores[0].start(DAY1, number=1, subject="Day one", edition=record, at=datetime(2027, 9, 1, 13, tzinfo=UTC))
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def add(store, variant):
            try:
                barrier.wait()
                for _ in range(5):
                    store.add_edition_part(DAY1, f"{variant}", f"<p>{variant}</p>", variant)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=add, args=(s, v)) for s, v in zip(stores, ("GB", "IE"), strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(stores[1].edition(DAY1)["parts"]) == ["GB", "IE", "US"]
        assert stores[0].add_edition_part(DAY1, "GB", "<p>other</p>", "other")["parts"]["GB"]["text"] == "GB"
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize("argument", ["9" * 5000, "١", "5\x01", "-1"])
def test_a_hostile_day_argument_is_refused_in_one_line_with_or_without_the_folder(campaign_dir, tmp_path, argument):
    empty = tmp_path / "empty-host"
    empty.mkdir()
    for where in (campaign_dir.root, empty):
        result = subprocess.run(
            [str(CAMPAIGN_BIN), "send", argument, "--dry-run"],
            cwd=where,
            env=campaign_dir.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr) < 400  # the argument is quoted, clipped
