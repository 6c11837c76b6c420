"""The campaign's input files (schedule.yaml, content/, templates/) as the running scheduler sees them:
load and check them the way `campaign validate` does, notice when any of them changes, and say in a log
line what an edit changed in the send times.

An edit can never take the scheduler down: `InputWatcher.reload` first loads the changed files in a
forked copy of the process, allowed RELOAD_MEMORY more bytes of address space and RELOAD_SECONDS of time,
and only an edit that loaded there is loaded by the scheduler itself. (The copy runs nothing but the
loaders; should it ever hang on a lock copied from another thread, it is killed at the time limit and the
edit is reported, never put in force half-checked.)
Whatever goes wrong — an invalid value, an impossible date, a 20,000-deep list, a YAML alias bomb, a bug —
is reported as lines "file:line: what" and the last good project stays in force.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import traceback
from collections.abc import Callable, Mapping
from datetime import date
from multiprocessing.connection import Connection

from campaign.config import Settings
from campaign.errors import InvalidInput
from campaign.series.frozen import FrozenDay
from campaign.series.project import Project, load_project
from campaign.timing.slots import Slot

Frozen = Mapping[date, FrozenDay]

RELOAD_SECONDS = 30.0  # an edit that takes longer than this to load is refused
RELOAD_MEMORY = 512 << 20  # ...and one that needs more memory than this to load


def load_checked_project(settings: Settings, frozen: Frozen | None = None) -> Project:
    """Load every input and check what `campaign validate` checks; raise InvalidInput listing every problem.
    `frozen`: the days already started, as the ledger recorded them (kept as they went out)."""
    project = load_project(settings, frozen)
    project.check_safe_messaging()
    project.render(project.schedule.dates[0])  # templates compile and carry the crisis block and disclaimer
    return project


def _locate(err: BaseException) -> int | None:
    """The input line an unexpected error happened on: the innermost YAML node (or mark) it was handling."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    line = None
    for frame, _ in traceback.walk_tb(err.__traceback__):
        for value in list(frame.f_locals.values()):
            start = getattr(value, "start_mark", None)
            if start is not None and isinstance(getattr(start, "line", None), int):
                line = start.line + 1  # keep the innermost one
    return line


def describe_failure(err: BaseException, changed: list[str]) -> list[str]:
    """ "schedule.yaml:51: ValueError: day is out of range for month" — where and what, without a traceback."""
    if isinstance(err, InvalidInput):
        return err.lines()
    where = changed[0] if len(changed) == 1 else "one of " + ", ".join(changed) if changed else "the inputs"
    line = _locate(err) or getattr(err, "lineno", None)  # a YAML node, or e.g. a Jinja2 template error's line
    if isinstance(getattr(err, "filename", None), str) and getattr(err, "lineno", None):
        where = os.path.basename(err.filename)  # type: ignore[attr-defined]
    text = str(err).splitlines()[0][:300] if str(err) else ""
    kind = type(err).__name__
    return [f"{where}{f':{line}' if line else ''}: {kind}{f': {text}' if text else ''} — fix that edit"]


def _trial_load(settings: Settings, frozen: Frozen | None, conn: Connection) -> None:
    """In the trial process: load like the scheduler would, within the memory cap; send back the verdict."""
    import resource

    try:  # the copy starts with the scheduler's address space: allow RELOAD_MEMORY more
        with open("/proc/self/statm", encoding="ascii") as f:
            in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + RELOAD_MEMORY, in_use + RELOAD_MEMORY))
    except (ValueError, OSError):
        pass
    try:
        load_checked_project(settings, frozen)
        verdict: list[str] = []
    except MemoryError:
        verdict = [f"the edit needs more than {RELOAD_MEMORY >> 20} MB to load (an alias bomb?) — simplify it"]
    except BaseException as err:  # everything: the scheduler reports it and keeps the last good schedule
        verdict = describe_failure(err, [])
    conn.send(verdict)
    conn.close()


def trial_load(
    settings: Settings, changed: list[str], frozen: Frozen | None = None, timeout: float = RELOAD_SECONDS
) -> list[str]:
    """Load the inputs in a separate, capped process; the problems found ([] when it loaded)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return []  # no fork (not Linux): the loaders' own caps on sizes, depth and aliases bound the reload
    ctx = multiprocessing.get_context("fork")  # a copy of this process: no import, no start-up delay
    ours, theirs = ctx.Pipe(duplex=False)
    portable = dataclasses.replace(settings, environ=dict(settings.environ))
    proc = ctx.Process(target=_trial_load, args=(portable, frozen, theirs), daemon=True)
    proc.start()
    theirs.close()
    try:
        if not ours.poll(timeout):
            return [f"{', '.join(changed)}: loading the edit took longer than {timeout:.0f} s — simplify it"]
        try:
            verdict: list[str] = ours.recv()
        except EOFError:
            return [f"{', '.join(changed)}: loading the edit crashed (more than {RELOAD_MEMORY >> 20} MB?)"]
        where = changed[0] if len(changed) == 1 else None
        return [line.replace("the inputs:", f"{where}:", 1) if where else line for line in verdict]
    finally:
        ours.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


class InputWatcher:
    """Notices edits to the inputs and reloads them safely; `reload()` never raises."""

    def __init__(self, settings: Settings, frozen: Callable[[], Frozen] = dict):
        self.settings = settings
        self.frozen = frozen  # read at every reload: days frozen since the last one count too
        self.signature = inputs_signature(settings)

    def changed(self) -> list[str]:
        """The input files changed since the last look (and remembers the new state)."""
        signature = inputs_signature(self.settings)
        if signature == self.signature:
            return []
        old, self.signature = self.signature, signature
        return sorted(p for p in set(signature) | set(old) if signature.get(p) != old.get(p))

    def reload(self, changed: list[str]) -> tuple[Project | None, list[str]]:
        """(the new project, []) — or (None, the problems) when the edit cannot be put in force."""
        try:
            frozen = self.frozen()
            problems = trial_load(self.settings, changed, frozen)
            if problems:
                return None, problems
            return load_checked_project(self.settings, frozen), []
        except BaseException as err:  # noqa: BLE001 — an edit must never stop the scheduler
            if isinstance(err, KeyboardInterrupt | SystemExit):
                raise
            return None, describe_failure(err, changed)


def inputs_signature(settings: Settings) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every input file: a change in any of them triggers a reload."""
    found = {}
    paths: list[str] = [str(settings.schedule_path)]
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
