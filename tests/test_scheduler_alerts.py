"""`campaign run` tells the operators: a refused hot-reloaded edit (naming schedule.yaml:<line>, organisers
too), a missed day, its start and stop — each once per cause and day — and writes its heartbeat."""

from __future__ import annotations

import json

from campaign.clock import Clock
from campaign.timing.watchdog import HEARTBEAT_KEY, heartbeat_age
from tests.conftest import people
from tests.scheduler_helpers import at_ny, import_people, run_once, running, wait_until
from tests.test_alerts import OPERATOR, ORGANISER, alert_mails, posted, with_alerts


def kinds(receiver) -> list[str]:
    return [h["kind"] for h in posted(receiver)]


def test_an_invalid_edit_under_a_running_scheduler_alerts_naming_its_line(campaign_dir, receiver):
    with_alerts(campaign_dir, organisers=True)
    campaign_dir.env["CAMPAIGN_ALERT_WEBHOOK_URL"] = receiver.url_for("/hook")
    import_people(campaign_dir, people(2))
    with running(campaign_dir, Clock(at_ny("2027-08-31 08:00"), speed=1)) as scheduler:
        wait_until(lambda: scheduler.announced, what="started")
        wait_until(lambda: "scheduler:run:started" in kinds(receiver), timeout=10, what="the start alert")
        assert campaign_dir.store().get_state(HEARTBEAT_KEY)["pid"] > 0
        assert heartbeat_age(campaign_dir.store()) < 30
        path = campaign_dir.root / "schedule.yaml"
        text = path.read_text(encoding="utf-8")
        broken = text.replace('    subject: "A month', '    subject: "A month" x"', 1)
        bad_line = next(i for i, line in enumerate(broken.splitlines(), 1) if '"A month" x"' in line)
        path.write_text(broken, encoding="utf-8")
        wait_until(lambda: "series:reload:refused" in kinds(receiver), timeout=15, what="the reload alert")
        # the same refusal, seen again, does not alert again
        path.write_text(broken + "\n", encoding="utf-8")
        wait_until(lambda: len(alert_mails(campaign_dir)) >= 3, timeout=15, what="the alert emails")
    wait_until(lambda: "scheduler:run:stopped" in kinds(receiver), timeout=15, what="the stop alert")
    refused = [h for h in posted(receiver) if h["kind"] == "series:reload:refused"]
    assert len(refused) == 1 and f"schedule.yaml:{bad_line}" in refused[0]["text"]
    to = [m["To"] for m in alert_mails(campaign_dir) if "refused" in m["Subject"]]
    assert sorted(to) == [ORGANISER, OPERATOR]


def test_a_missed_day_alerts_once(campaign_dir, receiver):
    with_alerts(campaign_dir)
    campaign_dir.env["CAMPAIGN_ALERT_WEBHOOK_URL"] = receiver.url_for("/hook")
    import_people(campaign_dir, people(3))
    late = at_ny("2027-09-01 11:01")  # grace is 120 minutes
    run_once(campaign_dir, Clock(late))
    from campaign.alerts.center import wait_for_alerts

    wait_for_alerts(15)
    missed = [h for h in posted(receiver) if h["kind"] == "series:day:missed"]
    assert len(missed) == 1 and missed[0]["day"] == "2027-09-01" and missed[0]["counts"] == {"owed": 3}
    assert "campaign send 1" in missed[0]["text"] and "@example.org" not in json.dumps(missed)
    assert "scheduler:run:started" not in kinds(receiver)  # `--once` (cron) runs do not announce themselves
