"""Frozen days: once a day went out it is never re-split, renumbered or relabelled (series/frozen.py)."""

from __future__ import annotations

import re

import pytest

from campaign.errors import ContentError
from campaign.series.frozen import FrozenDay, block_id, freeze

REMOVED_DAY = "  2027-09-07:\n"


def _freeze_first(project, n: int) -> dict:
    out = {}
    for part in project.plan.parts[:n]:
        entry = project.schedule.days[part.day]
        out[part.day] = freeze(part, subject=entry.subject, preheader=entry.preheader, note=entry.note)
    return out


def _remove_day(campaign_dir) -> None:
    path = campaign_dir.root / "schedule.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(REMOVED_DAY)
    end = start + len(REMOVED_DAY)
    while end < len(text) and text.startswith("    ", end):  # the entry's own lines
        end = text.index("\n", end) + 1
    path.write_text(text[:start] + text[end:], encoding="utf-8")


def _edit_paragraph(campaign_dir, block) -> str:
    path = campaign_dir.root / "content" / "article.md"
    text = path.read_text(encoding="utf-8")
    new = block.source.rstrip(".") + " (edited)."
    assert text.count(block.source) == 1
    path.write_text(text.replace(block.source, new), encoding="utf-8")
    return new


def _paragraph_of(plan, day_index: int):
    """The first paragraph of that day (or of the next day that has one)."""
    return next(b for p in plan.parts[day_index:] for b in p.blocks if b.kind == "paragraph")


def test_sent_days_keep_their_blocks_and_labels_after_a_day_is_removed_and_text_edited(campaign_dir):
    from campaign.series.project import load_project

    before = campaign_dir.project()
    frozen = _freeze_first(before, 5)
    unsent = _paragraph_of(before.plan, 8)
    _remove_day(campaign_dir)
    new_source = _edit_paragraph(campaign_dir, unsent)

    after = load_project(campaign_dir.settings, frozen)
    parts = after.plan.parts
    assert [p.blocks for p in parts[:5]] == [p.blocks for p in before.plan.parts[:5]]
    assert [(p.number, p.total) for p in parts[:5]] == [(n, 30) for n in range(1, 6)]
    # the numbering continues; the new length (29) is never printed, since "of 30" is already in inboxes
    assert [p.number for p in parts] == list(range(1, 30))
    assert {p.total for p in parts[5:]} == {None}
    # every block of the current article exactly once, in order
    sent_and_planned = [block_id(b) for p in parts for b in p.blocks]
    assert sent_and_planned == [block_id(b) for b in after.article.blocks]
    assert any(b.source == new_source for p in parts[5:] for b in p.blocks)
    assert after.plan_warnings == ()
    # the rendered frozen day says what the sent one said
    assert "Day 3 of 30" in after.render(parts[2].day).text
    assert re.search(r"Day 6\b(?! of)", after.render(parts[5].day).text)


def test_starting_a_send_never_re_splits_the_days_after_it_when_nothing_was_edited(campaign_dir):
    from campaign.series.project import load_project

    before = campaign_dir.project()
    for n in (1, 5, 29):
        after = load_project(campaign_dir.settings, _freeze_first(before, n))
        assert after.plan == before.plan and after.plan_warnings == ()


def test_an_edit_to_text_already_sent_is_a_warning_and_is_not_sent_again(campaign_dir):
    from campaign.series.project import load_project

    before = campaign_dir.project()
    frozen = _freeze_first(before, 5)
    sent = _paragraph_of(before.plan, 2)
    day = next(p.number for p in before.plan.parts if sent in p.blocks)
    assert day <= 5
    new_source = _edit_paragraph(campaign_dir, sent)

    after = load_project(campaign_dir.settings, frozen)
    assert [str(w) for w in after.plan_warnings if f"day {day} went out with an earlier version" in str(w)]
    assert all(b.source != new_source for p in after.plan.parts for b in p.blocks)
    assert after.plan.parts[2].blocks == before.plan.parts[2].blocks
    assert [p.total for p in after.plan.parts] == [30] * 30  # same length: labels unchanged


def test_a_paragraph_added_inside_sent_text_is_refused_with_its_line(campaign_dir):
    from campaign.series.project import load_project

    before = campaign_dir.project()
    frozen = _freeze_first(before, 5)
    anchor = _paragraph_of(before.plan, 1)
    path = campaign_dir.root / "content" / "article.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(anchor.source, anchor.source + "\n\nA new paragraph nobody would get."), "utf-8")
    with pytest.raises(ContentError) as err:
        load_project(campaign_dir.settings, frozen)
    (problem,) = err.value.problems
    assert problem.file.endswith("article.md") and problem.line
    assert "already sent" in problem.message and "move it after" in problem.fix


def test_frozen_record_round_trips_through_json():
    import json
    from datetime import date

    from campaign.series.content import Block

    day = FrozenDay(
        date(2027, 9, 1),
        1,
        30,
        "Subject — é",
        "Pre",
        None,
        (Block("heading", "## Hé", "Hé", 3, 2), Block("paragraph", "Text *x*", "Text x", 5)),
        "Intro",
        2,
    )
    assert FrozenDay.from_record(json.loads(json.dumps(day.to_record()))) == day
