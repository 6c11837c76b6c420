"""One command loads the project once, plans once and lints each day once (issue 18): counted on the real code
objects with a profiler hook while the real `campaign send` runs in this process — nothing is replaced."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from datetime import date

from campaign.cli import command
from campaign.series import plan as plan_module
from campaign.series.project import Project
from tests.conftest import people


def calls_during(codes: dict[str, object], run) -> Counter:
    """How many times each code object was called (on every thread) while `run()` ran; also the first
    argument seen by each call, for methods."""
    seen: Counter = Counter()
    lock = threading.Lock()

    def profile(frame, event, arg):
        if event == "call":
            for name, code in codes.items():
                if frame.f_code is code:
                    with lock:
                        seen[name] += 1
                        if name == "lint_day":
                            seen[("lint_day", frame.f_locals.get("day"))] += 1

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return seen


def test_a_send_of_day_5_with_days_1_to_4_frozen_plans_exactly_once_and_lints_day_5_once(campaign_dir, monkeypatch):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(6))), check=True)
    for number in range(1, 5):
        campaign_dir.run("send", str(number), "--yes", check=True)
    monkeypatch.chdir(campaign_dir.root)
    for key, value in campaign_dir.env.items():
        monkeypatch.setenv(key, value)

    def send_day_5():
        command()(["send", "5", "--yes"], prog_name="campaign", standalone_mode=False)

    seen = calls_during(
        {"make_plan": plan_module.make_plan.__code__, "lint_day": Project._lint_day.__code__}, send_day_5
    )
    assert seen["make_plan"] == 1
    assert seen[("lint_day", date(2027, 9, 5))] == 1
    assert len(list((campaign_dir.outbox / "2027-09-05").glob("*.eml"))) == 6
