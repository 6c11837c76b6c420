"""The campaign's input files (schedule.yaml, content/, templates/) as the running scheduler sees them:
load and check them the way `campaign validate` does, notice when any of them changes, and say in a log
line what an edit changed in the send times."""

from __future__ import annotations

import os

from campaign.config import Settings
from campaign.series.project import Project, load_project
from campaign.timing.slots import Slot


def load_checked_project(settings: Settings) -> Project:
    """Load every input and check what `campaign validate` checks; raise InvalidInput listing every problem."""
    project = load_project(settings)
    project.check_safe_messaging()
    project.render(project.schedule.dates[0])  # templates compile and carry the crisis block and disclaimer
    return project


def inputs_signature(settings: Settings) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every input file: a change in any of them triggers a reload."""
    found = {}
    paths = [settings.schedule_path]
    for folder in (settings.content_dir, settings.templates_dir):
        for dirpath, _dirs, files in os.walk(folder):
            paths += [os.path.join(dirpath, f) for f in files]
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        found[os.path.relpath(path, settings.root)] = (st.st_mtime_ns, st.st_size)
    return found


def describe_changes(old: list[Slot], new: list[Slot], tz) -> list[str]:
    """ "day 2027-09-05 moved from 09:00 EDT to 10:30 EDT", "… removed (its send is cancelled)", "… added"."""

    def times(slots):
        out: dict = {}
        for s in slots:
            out.setdefault(s.day, set()).add(s.at)
        return out

    before, after = times(old), times(new)
    fmt = lambda ats: ", ".join(f"{a.astimezone(tz):%Y-%m-%d %H:%M %Z}" for a in sorted(ats))  # noqa: E731
    lines = []
    for day in sorted(set(before) | set(after)):
        if day not in after:
            lines.append(f"day {day} removed (its send is cancelled)")
        elif day not in before:
            lines.append(f"day {day} added, sends at {fmt(after[day])}")
        elif before[day] != after[day]:
            lines.append(f"day {day} moved from {fmt(before[day])} to {fmt(after[day])}")
    return lines or ["reloaded; no send time changed (a day already sent is never sent again)"]
