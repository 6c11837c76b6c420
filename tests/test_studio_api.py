"""The studio's JSON API and saving (issue 19, items 2, 4-8): days, PUT with If-Match and each of its
answers, conflicts, round-trip saves that git sees as one changed line, history and restore, approvals in
the last `approval_hours`, and the audit of all of it. The clock is set with time-machine."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaign.delivery.as_sent import load_project_as_sent
from campaign.delivery.editions import Editions
from tests.studio_helpers import make_studio

D12 = "2027-09-12"
AUGUST = datetime(2027, 8, 1, 12, 0, tzinfo=UTC)  # every day is weeks away
NY = ZoneInfo("America/New_York")


@pytest.fixture
def studio(any_campaign_dir):
    s = make_studio(any_campaign_dir)
    yield s
    s.app.extensions["studio"].mailer.close()
    s.store.close()


@pytest.fixture
def in_august():
    with time_machine.travel(AUGUST, tick=True):
        yield


def git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def init_git(root) -> None:
    git(root, "init", "-q")
    git(root, "-c", "user.email=t@example.org", "-c", "user.name=t", "add", "schedule.yaml")
    git(root, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "start")


def put(client, csrf, day, body, etag):
    return client.put(f"/studio/api/days/{day}", json=body, headers={"X-CSRF-Token": csrf, "If-Match": etag})


def test_days_lists_every_day_with_its_fields(studio, in_august):
    client, _ = studio.signed_in("ed@example.org")
    r = client.get("/studio/api/days")
    assert r.status_code == 200 and r.headers["ETag"].startswith('"')
    days = r.get_json()["days"]
    assert len(days) == 30
    d12 = next(d for d in days if d["date"] == D12)
    assert set(d12) >= {
        "date",
        "number",
        "state",
        "subject",
        "preheader",
        "note",
        "pins",
        "words",
        "opening",
        "findings",
    }
    assert d12["number"] == 12 and d12["state"] == "planned" and d12["subject"] == "Understanding PTSD with compassion"
    assert (
        d12["pins"] == ["Addressing PTSD with Ketamine-Assisted Psychotherapy"] and d12["words"] > 10 and d12["opening"]
    )
    d5 = next(d for d in days if d["date"] == "2027-09-05")
    assert any("L12" in f["message"] and "[acknowledged" in f["message"] for f in d5["findings"])


def test_a_save_changes_exactly_one_line_and_is_a_revision(studio, in_august):
    init_git(studio.campaign.root)
    client, csrf = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    r = put(client, csrf, D12, {"subject": "Living with PTSD, with compassion"}, etag)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["revision"] and r.headers["ETag"] == body["etag"] != etag
    numstat = git(studio.campaign.root, "diff", "--numstat", "schedule.yaml")
    assert numstat.split()[:2] == ["1", "1"]
    diff = git(studio.campaign.root, "diff", "-U0", "schedule.yaml")
    assert '+    subject: "Living with PTSD, with compassion"' in diff
    revisions = client.get("/studio/api/revisions").get_json()["revisions"]
    assert revisions[0]["user"] == "ed@example.org" and revisions[0]["day"] == D12
    shown = client.get(f"/studio/api/revisions/{body['revision']}").get_json()
    assert '+    subject: "Living with PTSD, with compassion"' in shown["diff"]
    # the CLI sees the change
    assert "Living with PTSD" in studio.campaign.run("plan", check=True).stdout


def test_an_invalid_edit_is_422_with_its_problems_and_the_file_untouched(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    before = studio.schedule.read_bytes()
    r = put(client, csrf, D12, {"note": "If you need to talk, call 1-800-555-0199."}, etag)
    assert r.status_code == 422
    problems = r.get_json()["problems"]
    assert [p["field"] for p in problems] == ["note"] and "N1" in problems[0]["message"]
    r = put(client, csrf, D12, {"subject": "two\nlines"}, etag)
    assert r.status_code == 422 and r.get_json()["problems"][0]["field"] == "subject"
    for body in ({"subject": 5}, ["subject"], {"subject": "x" * 6000}):
        assert put(client, csrf, D12, body, etag).status_code == 422
    assert studio.schedule.read_bytes() == before
    assert client.get("/studio/api/revisions").get_json()["revisions"] == []


def test_a_file_changed_on_disk_is_a_409_with_the_current_text(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    studio.campaign.edit_schedule("Understanding OCD beyond the stereotypes", "Understanding OCD (edited by hand)")
    on_disk = studio.schedule.read_text(encoding="utf-8")
    r = put(client, csrf, D12, {"subject": "Mine"}, etag)
    assert r.status_code == 409
    body = r.get_json()
    assert body["conflict"] and body["current"] == on_disk and body["etag"] != etag
    assert studio.schedule.read_text(encoding="utf-8") == on_disk  # nothing overwritten
    assert put(client, csrf, D12, {"subject": "Mine"}, '"stale"').status_code == 409
    assert put(client, csrf, D12, {"subject": "Mine"}, "").status_code == 409
    r = put(client, csrf, D12, {"subject": "Mine"}, body["etag"])  # retried on the new text: both kept
    assert r.status_code == 200
    text = studio.schedule.read_text(encoding="utf-8")
    assert "Understanding OCD (edited by hand)" in text and 'subject: "Mine"' in text


def _freeze(studio, day: date, *, sent: bool) -> None:
    """Start `day` as a send does: frozen (with every earlier day) and its edition stored; `sent`: finished."""
    project = load_project_as_sent(studio.campaign.settings, studio.store)
    Editions(studio.store, project).start(day, at=AUGUST)
    if sent:
        studio.store.finish(day)


def test_a_started_day_is_read_only_and_shows_what_went_out(studio, in_august):
    _freeze(studio, date(2027, 9, 2), sent=True)
    client, csrf = studio.signed_in("ed@example.org")
    r = client.get("/studio/api/days")
    states = {d["date"]: d["state"] for d in r.get_json()["days"]}
    assert states["2027-09-01"] == "frozen" and states["2027-09-02"] == "sent" and states["2027-09-03"] == "planned"
    before = studio.schedule.read_bytes()
    answer = put(client, csrf, "2027-09-02", {"subject": "Rewritten"}, r.headers["ETag"])
    assert answer.status_code == 409 and answer.get_json()["read_only"]
    assert put(client, csrf, "2027-09-01", {"subject": "Rewritten"}, r.headers["ETag"]).status_code == 409
    assert studio.schedule.read_bytes() == before
    preview = client.post(
        "/studio/api/preview", json={"date": "2027-09-02", "subject": "Rewritten"}, headers={"X-CSRF-Token": csrf}
    )
    body = preview.get_json()
    assert (
        body["read_only"]
        and "Why we talk about mental health this September" in body["html"]
        and "Rewritten" not in body["html"]
    )


def test_preview_renders_without_saving(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    before = studio.schedule.read_bytes()
    r = client.post(
        "/studio/api/preview",
        json={"date": D12, "subject": "Hello <script>alert(1)</script>", "country": "GB", "dark": True},
        headers={"X-CSRF-Token": csrf},
    )
    body = r.get_json()
    assert r.status_code == 200 and body["ok"]
    assert "<script>alert(1)" not in body["html"] and "&lt;script&gt;" in body["html"]
    assert "Samaritans" in body["html"] and "Samaritans" in body["text"]  # the GB crisis block
    assert "@media all" in body["html"]  # dark rules always on
    assert studio.client().get(body["frame"]).status_code == 303  # a frame needs the session too
    frame = client.get(body["frame"])
    assert frame.status_code == 200 and "script-src" not in frame.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    bad = client.post(
        "/studio/api/preview", json={"date": D12, "note": "call 1-800-555-0199"}, headers={"X-CSRF-Token": csrf}
    )
    findings = bad.get_json()["findings"]
    assert not bad.get_json()["ok"] and findings[0]["field"] == "note" and "N1" in findings[0]["message"]
    assert studio.schedule.read_bytes() == before
    assert client.post("/studio/api/preview", json={"date": D12}).status_code == 403  # a POST needs the token


def test_restore_brings_the_old_subject_back_as_a_new_revision(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    original = studio.schedule.read_text(encoding="utf-8")
    etag = client.get("/studio/api/days").headers["ETag"]
    first = put(client, csrf, D12, {"subject": "Changed once"}, etag).get_json()["revision"]
    r = client.post(f"/studio/api/revisions/{first}/restore", json={"to": "before"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert studio.schedule.read_text(encoding="utf-8") == original
    revisions = client.get("/studio/api/revisions").get_json()["revisions"]
    assert [rv["restored_from"] for rv in revisions] == [first, None]
    assert "Understanding PTSD with compassion" == client.get("/studio/api/days").get_json()["days"][11]["subject"]
    r = client.post(f"/studio/api/revisions/{first}/restore", json={"to": "after"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and "Changed once" in studio.schedule.read_text(encoding="utf-8")


def test_an_edit_within_approval_hours_is_held_until_someone_else_approves(studio):
    eleven_pm = datetime(2027, 9, 11, 23, 0, tzinfo=NY)  # 12 September's 09:00 send is 10 hours away
    with time_machine.travel(eleven_pm, tick=False):
        ed, ed_csrf = studio.signed_in("ed@example.org", "editor")
        ann, ann_csrf = studio.signed_in("ann@example.org", "approver")
        before = studio.schedule.read_bytes()
        etag = ed.get("/studio/api/days").headers["ETag"]
        held = put(ed, ed_csrf, D12, {"subject": "Held subject"}, etag)
        assert held.status_code == 202, held.get_json()
        approval = held.get_json()["approval"]
        assert studio.schedule.read_bytes() == before
        # 20 September is far enough away: saved at once
        assert put(ed, ed_csrf, "2027-09-20", {"subject": "Opening a window"}, etag).status_code == 200
        after_other = studio.schedule.read_bytes()
        own = ed.post(
            f"/studio/api/approvals/{approval}", json={"decision": "approve"}, headers={"X-CSRF-Token": ed_csrf}
        )
        assert own.status_code == 403
        assert studio.schedule.read_bytes() == after_other
        ok = ann.post(
            f"/studio/api/approvals/{approval}",
            json={"decision": "approve", "note": "fine"},
            headers={"X-CSRF-Token": ann_csrf},
        )
        assert ok.status_code == 200, ok.get_json()
        assert 'subject: "Held subject"' in studio.schedule.read_text(encoding="utf-8")
        assert "Opening a window" in studio.schedule.read_text(encoding="utf-8")  # the other save is kept
        again = ann.post(
            f"/studio/api/approvals/{approval}", json={"decision": "approve"}, headers={"X-CSRF-Token": ann_csrf}
        )
        assert again.status_code == 409
    audit = studio.campaign.run("audit", check=True).stdout.splitlines()
    tags = [line.split("  ")[1] for line in audit]
    assert tags == [
        "user:signin:success",
        "user:signin:success",
        "series:day:save_held",
        "series:day:saved",
        "series:day:approval_refused",
        "series:day:approved",
    ]
    assert "ed@example.org" in audit[2] and "ed@example.org" in audit[4] and "ann@example.org" in audit[5]


def test_a_held_edit_can_be_rejected_with_a_note_and_an_editor_cannot_approve(studio):
    with time_machine.travel(datetime(2027, 9, 11, 23, 0, tzinfo=NY), tick=False):
        ed, ed_csrf = studio.signed_in("ed@example.org", "editor")
        eve, eve_csrf = studio.signed_in("eve@example.org", "editor")
        ann, ann_csrf = studio.signed_in("ann@example.org", "admin")
        before = studio.schedule.read_bytes()
        etag = ed.get("/studio/api/days").headers["ETag"]
        approval = put(ed, ed_csrf, D12, {"subject": "Maybe"}, etag).get_json()["approval"]
        assert (
            eve.post(
                f"/studio/api/approvals/{approval}", json={"decision": "approve"}, headers={"X-CSRF-Token": eve_csrf}
            ).status_code
            == 403
        )
        assert (
            eve.post(
                f"/studio/api/approvals/{approval}", json={"decision": "reject"}, headers={"X-CSRF-Token": eve_csrf}
            ).status_code
            == 403
        )
        assert (
            ann.post(
                f"/studio/api/approvals/{approval}", json={"decision": "maybe"}, headers={"X-CSRF-Token": ann_csrf}
            ).status_code
            == 422
        )
        r = ann.post(
            f"/studio/api/approvals/{approval}",
            json={"decision": "reject", "note": "Not today"},
            headers={"X-CSRF-Token": ann_csrf},
        )
        assert r.status_code == 200
        listed = ann.get("/studio/api/approvals").get_json()["approvals"]
        assert listed[0]["state"] == "rejected" and listed[0]["note"] == "Not today"
        assert studio.schedule.read_bytes() == before
        assert ann.get("/studio/api/audit").status_code == 200 and ed.get("/studio/api/audit").status_code == 403


def test_a_template_changed_on_disk_shows_at_the_next_check(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    first = client.post("/studio/api/preview", json={"date": D12}, headers={"X-CSRF-Token": csrf}).get_json()
    assert "From our article" in first["html"]
    template = studio.campaign.root / "templates" / "issue.mjml.j2"
    template.write_text(template.read_text().replace("From our article", "Taken from our article"))
    second = client.post("/studio/api/preview", json={"date": D12}, headers={"X-CSRF-Token": csrf}).get_json()
    assert "Taken from our article" in second["html"]


def test_a_running_scheduler_picks_up_a_studio_save_through_its_hot_reload(studio, in_august):
    from campaign.timing.watch import InputWatcher

    watcher = InputWatcher(studio.campaign.settings)
    client, csrf = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    assert put(client, csrf, D12, {"subject": "Reloaded subject"}, etag).status_code == 200
    assert watcher.changed() == ["schedule.yaml"]
    project, problems = watcher.reload(["schedule.yaml"])
    assert problems == [] and project.schedule.days[date(2027, 9, 12)].subject == "Reloaded subject"


def test_pins_save_as_one_line_and_the_preview_shows_which_days_move(studio, in_august):
    init_git(studio.campaign.root)
    client, csrf = studio.signed_in("ed@example.org")
    etag = client.get("/studio/api/days").headers["ETag"]
    final = "Final Thoughts"
    # a section pinned to two days: refused, with the line and the fix
    twice = put(client, csrf, "2027-09-26", {"pins": [final]}, etag)
    assert twice.status_code == 422 and "already pinned" in twice.get_json()["problems"][0]["message"]
    r = put(client, csrf, "2027-09-27", {"pins": []}, etag)
    assert r.status_code == 200, r.get_json()
    assert git(studio.campaign.root, "diff", "--numstat", "schedule.yaml").split()[:2] == ["0", "1"]
    assert client.get("/studio/api/days").get_json()["days"][26]["pins"] == []
    # pinning "Final Thoughts" to the 26th instead moves it: the preview says which days change, unsaved
    before = studio.schedule.read_bytes()
    preview = client.post(
        "/studio/api/preview", json={"date": "2027-09-26", "pins": [final]}, headers={"X-CSRF-Token": csrf}
    ).get_json()
    assert preview["ok"], preview["findings"]
    changed = {m["date"]: m for m in preview["moves"]}
    assert changed["2027-09-26"]["now"] == final and changed["2027-09-26"]["was"] != final
    assert set(changed) >= {"2027-09-25", "2027-09-26", "2027-09-27"}
    assert studio.schedule.read_bytes() == before
    saved = put(client, csrf, "2027-09-26", {"pins": [final]}, r.headers["ETag"])
    assert saved.status_code == 200
    assert f'+    pin: ["{final}"]' in git(studio.campaign.root, "diff", "-U0", "schedule.yaml")
    for bad_pins in ("one", [1], ["x" * 400], ["a"] * 30):
        assert put(client, csrf, "2027-09-12", {"pins": bad_pins}, saved.headers["ETag"]).status_code == 422


def test_the_article_is_checked_while_typing_saved_and_restored(studio, in_august):
    client, csrf = studio.signed_in("ed@example.org")
    got = client.get("/studio/api/article")
    text, etag = got.get_json()["text"], got.headers["ETag"]
    article_path = studio.campaign.root / "content" / "article.md"
    paragraph = next(line for line in text.splitlines() if len(line) > 200)
    edited = text.replace(paragraph, paragraph + " This sentence is new.", 1)
    check = client.post("/studio/api/article/check", json={"text": edited}, headers={"X-CSRF-Token": csrf}).get_json()
    assert check["ok"] and len(check["moves"]) >= 1
    assert article_path.read_text(encoding="utf-8") == text  # checking writes nothing
    with_number = text.replace(paragraph, paragraph + " Call 1-800-555-0199 any time.", 1)
    bad = client.post(
        "/studio/api/article/check", json={"text": with_number}, headers={"X-CSRF-Token": csrf}
    ).get_json()
    assert not bad["ok"] and any(f["field"] == "article" and "N1" in f["message"] for f in bad["findings"])
    refused = client.put(
        "/studio/api/article", json={"text": with_number}, headers={"X-CSRF-Token": csrf, "If-Match": etag}
    )
    assert refused.status_code == 422 and article_path.read_text(encoding="utf-8") == text
    assert (
        client.put(
            "/studio/api/article", json={"text": edited}, headers={"X-CSRF-Token": csrf, "If-Match": '"old"'}
        ).status_code
        == 409
    )
    saved = client.put("/studio/api/article", json={"text": edited}, headers={"X-CSRF-Token": csrf, "If-Match": etag})
    assert saved.status_code == 200 and article_path.read_text(encoding="utf-8") == edited
    revision = saved.get_json()["revision"]
    restored = client.post(
        f"/studio/api/revisions/{revision}/restore", json={"to": "before"}, headers={"X-CSRF-Token": csrf}
    )
    assert restored.status_code == 200 and article_path.read_text(encoding="utf-8") == text
    tags = [e.tag for e in studio.ledger.audit_events()]
    assert tags[-4:] == [
        "series:day:save_rejected",
        "series:day:save_rejected",
        "series:article:saved",
        "series:revision:restored",
    ]


def test_an_article_edit_that_changes_a_day_inside_the_approval_window_is_refused(studio):
    with time_machine.travel(datetime(2027, 9, 11, 23, 0, tzinfo=NY), tick=False):
        client, csrf = studio.signed_in("ed@example.org")
        got = client.get("/studio/api/article")
        text = got.get_json()["text"]
        ptsd_paragraph = text.split("### Addressing PTSD with Ketamine-Assisted Psychotherapy", 1)[1].split("\n\n")[1]
        for edited in (
            text.replace("PTSD", "post-traumatic stress disorder (PTSD)", 1),  # the title: in every email
            text.replace(ptsd_paragraph, ptsd_paragraph + " One more sentence.", 1),  # 12 September's text
        ):
            r = client.put(
                "/studio/api/article",
                json={"text": edited},
                headers={"X-CSRF-Token": csrf, "If-Match": got.headers["ETag"]},
            )
            assert r.status_code == 409 and "2027-09-12" in r.get_json()["error"], r.get_json()
            assert (studio.campaign.root / "content" / "article.md").read_text(encoding="utf-8") == text


def test_a_started_days_page_is_read_only(studio, in_august):
    _freeze(studio, date(2027, 9, 2), sent=True)
    client, _ = studio.signed_in("ed@example.org")
    page = client.get("/studio/days/2027-09-02").text
    assert page.count("readonly") == 4 and 'id="save"' not in page and "read-only" in page
    planned = client.get("/studio/days/2027-09-20").text
    assert "readonly" not in planned and 'id="save"' in planned


def test_the_studio_starts_and_says_what_is_wrong_when_the_schedule_does_not_load(any_campaign_dir):
    any_campaign_dir.edit_schedule('subject: "Understanding PTSD with compassion"', 'subject: ""')
    s = make_studio(any_campaign_dir)
    try:
        client, _ = s.signed_in("ed@example.org")
        page = client.get("/studio/")
        assert page.status_code == 422 and "days.2027-09-12.subject" in page.text and "subject is empty" in page.text
        days = client.get("/studio/api/days")
        assert days.status_code == 422 and "subject is empty" in days.get_json()["problems"][0]["message"]
    finally:
        s.app.extensions["studio"].mailer.close()
        s.store.close()


def test_approval_runs_the_same_checks_and_an_edit_no_longer_valid_stays_pending(studio):
    with time_machine.travel(datetime(2027, 9, 11, 23, 0, tzinfo=NY), tick=False):
        ed, ed_csrf = studio.signed_in("ed@example.org", "editor")
        ann, ann_csrf = studio.signed_in("ann@example.org", "approver")
        etag = ed.get("/studio/api/days").headers["ETag"]
        approval = put(ed, ed_csrf, D12, {"note": "A gentle note for today."}, etag).get_json()["approval"]
        # meanwhile someone pins 12 September's section to the 13th too, by hand: the edit no longer loads
        studio.campaign.edit_schedule(
            "  2027-09-13:\n", '  2027-09-13:\n    pin: ["Addressing PTSD with Ketamine-Assisted Psychotherapy"]\n'
        )
        before = studio.schedule.read_bytes()
        r = ann.post(
            f"/studio/api/approvals/{approval}", json={"decision": "approve"}, headers={"X-CSRF-Token": ann_csrf}
        )
        assert r.status_code == 422 and "already pinned" in r.get_json()["problems"][0]["message"]
        assert studio.schedule.read_bytes() == before
        assert ann.get("/studio/api/approvals").get_json()["approvals"][0]["state"] == "pending"
