"""The splitter: every block once and in order, nothing split, headings travel with their paragraph,
pins honoured, balance optimal for the stated objective, deterministic."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from campaign.errors import ContentError, ScheduleError
from campaign.series.content import load_article, parse_article
from campaign.series.plan import make_plan
from campaign.series.schedule import parse_schedule
from tests.conftest import REPO

ARTICLE = load_article(REPO / "content" / "article.md")


def schedule_text(days: int, pins: dict[int, str] | None = None) -> str:
    lines = ["campaign:", '  name: "T"', '  from: "a@example.org"', '  postal_address: "1 Main St"', "days:"]
    for i in range(days):
        lines.append(f"  {date(2027, 9, 1) + timedelta(days=i)}:")
        lines.append(f'    subject: "Day {i + 1}"')
        if pins and i in pins:
            lines.append(f'    pin: ["{pins[i]}"]')
    return "\n".join(lines) + "\n"


def plan_for(days: int, pins=None, article=ARTICLE):
    return make_plan(parse_schedule(schedule_text(days, pins)), article)


@pytest.mark.parametrize("days", [1, 2, 7, 15, 29, 30])
def test_every_block_exactly_once_in_order_and_no_dangling_heading(days):
    plan = plan_for(days)
    assert len(plan.parts) == days
    flat = [b for part in plan.parts for b in part.blocks]
    assert flat == list(ARTICLE.blocks)  # once each, in order, none split or lost
    for part in plan.parts:
        assert part.blocks, "a day without text"
        assert part.blocks[-1].kind != "heading", "a heading left at the end of a day"
        assert any(b.kind != "heading" for b in part.blocks)


def test_a_part_that_starts_mid_section_is_labelled_continued():
    plan = plan_for(30)
    for previous, part in zip(plan.parts, plan.parts[1:]):
        if part.blocks[0].kind == "heading":
            assert part.continued is None
        else:
            headings = [b for p in plan.parts[: part.number - 1] for b in p.blocks if b.kind == "heading"]
            expected = headings[-1].text if headings else None
            assert part.continued == expected


def test_pinned_sections_start_their_day():
    plan = plan_for(30, {9: "Efficacy for Depression and Suicidality", 26: "Final Thoughts"})
    assert plan.parts[9].blocks[0].text == "Efficacy for Depression and Suicidality"
    assert plan.parts[26].blocks[0].text == "Final Thoughts"


def test_pins_match_heading_text_loosely():
    plan = plan_for(30, {9: "efficacy for depression and suicidality"})
    assert plan.parts[9].blocks[0].text == "Efficacy for Depression and Suicidality"


def test_an_unknown_pin_names_the_line_and_the_headings():
    with pytest.raises(ScheduleError) as info:
        plan_for(30, {3: "No Such Section"})
    problem = info.value.problems[0]
    assert problem.line == 14 and "No Such Section" in problem.message and "Final Thoughts" in problem.fix


def test_an_impossible_pin_is_refused():
    with pytest.raises(ScheduleError) as info:
        plan_for(30, {1: "Final Thoughts"})  # 25 blocks cannot follow on 28 days... and order breaks
    assert "pin" in str(info.value)


def test_balance_is_the_exact_optimum_of_the_stated_objective():
    """Compare with brute force over all cut positions on a small article."""
    paragraphs = [" ".join(["word"] * n) for n in (5, 40, 12, 7, 30, 22, 3, 18, 9)]
    article = parse_article("---\ntitle: T\nsource: S\n---\n\n" + "\n\n".join(paragraphs) + "\n")
    words = [b.words for b in article.blocks]
    days = 4
    mean = sum(words) / days

    def cost(cuts):
        bounds = [0, *cuts, len(words)]
        return sum((sum(words[a:b]) - mean) ** 2 for a, b in zip(bounds, bounds[1:]))

    best = min(cost(c) for c in itertools.combinations(range(1, len(words)), days - 1))
    plan = plan_for(days, article=article)
    assert sum((p.words - mean) ** 2 for p in plan.parts) == pytest.approx(best)


def test_the_default_plan_is_reasonably_balanced():
    plan = make_plan(parse_schedule((REPO / "schedule.yaml").read_text()), ARTICLE)
    assert plan.spread < plan.mean * 1.5
    assert plan.parts[9].blocks[0].text == "Efficacy for Depression and Suicidality"  # the day-10 pin


def test_the_plan_is_deterministic():
    a, b = plan_for(30), plan_for(30)
    assert [(p.day, p.blocks) for p in a.parts] == [(p.day, p.blocks) for p in b.parts]


def test_more_days_than_blocks_is_an_error_naming_the_article():
    short = parse_article("---\ntitle: T\nsource: S\n---\n\n## Heading\n\nOne.\n\nTwo.\n")
    with pytest.raises(ContentError) as info:
        plan_for(3, article=short)
    assert "content/article.md" in str(info.value) and "2 paragraphs" in str(info.value)
