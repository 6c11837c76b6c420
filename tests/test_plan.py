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


# -- subjects that match their day (issue 9 #2) --------------------------------------------------------
def test_every_pinned_day_of_the_default_schedule_starts_with_its_section():
    loaded = parse_schedule((REPO / "schedule.yaml").read_text())
    plan = make_plan(loaded, ARTICLE)
    pinned = {day: entry.pin for day, entry in loaded.schedule.days.items() if entry.pin}
    assert len(pinned) >= 15  # every day whose subject names a section
    for part in plan.parts:
        if part.day in pinned:
            assert part.blocks[0].kind == "heading" and part.blocks[0].text == pinned[part.day][0]


@pytest.mark.parametrize(
    "day,section",
    [
        ("2027-09-05", "Key Mental Health Statistics"),
        ("2027-09-07", "Historical Use of Ketamine"),  # "A brief history of ketamine in medicine"
        ("2027-09-08", "Ketamine's Mechanism of Action"),  # "How the brain responds ..."
        ("2027-09-10", "Efficacy for Depression and Suicidality"),
        ("2027-09-12", "Addressing PTSD with Ketamine-Assisted Psychotherapy"),  # "Understanding PTSD ..."
        ("2027-09-14", "Ketamine-Assisted Therapy and Treatment of OCD"),  # "Understanding OCD ..."
        ("2027-09-20", "1. Amplified Therapeutic Windows"),  # "Opening a window for therapy"
        ("2027-09-22", "2. Enhances Emotional Learning"),  # "Learning from our emotions"
        ("2027-09-24", "3. Consolidation of Positive Neural Pathways"),  # "Strengthening helpful patterns"
        ("2027-09-25", "4. Potential for Circuitry Reset"),  # "Finding balance ..."
        ("2027-09-27", "Final Thoughts"),  # "Bringing it all together"
    ],
)
def test_a_subject_naming_a_section_is_on_that_sections_day(day, section):
    plan = make_plan(parse_schedule((REPO / "schedule.yaml").read_text()), ARTICLE)
    part = plan.part_for(date.fromisoformat(day))
    assert part.blocks[0].text == section


def test_an_article_at_the_block_limit_splits_in_about_a_second_at_most():
    import time

    from campaign.series.content import MAX_BLOCKS

    body = "\n\n".join(f"Paragraph {i} has a few words." for i in range(MAX_BLOCKS))
    article = parse_article("---\ntitle: t\nsource: s\n---\n" + body)
    started = time.perf_counter()
    make_plan(parse_schedule((REPO / "schedule.yaml").read_text().replace("    pin: [", "    # pin: [")), article)
    assert time.perf_counter() - started < 1.5


def test_campaign_plan_shows_each_subject_beside_its_opening(campaign_dir):
    result = campaign_dir.run("plan", check=True, env={"COLUMNS": "240"})
    rows = [line for line in result.stdout.splitlines() if "│" in line and "Sep" in line]
    assert len(rows) == 30
    history = next(r for r in rows if "07 Sep" in r)
    assert "A brief history of ketamine in medicine" in history and "§ Historical Use of Ketamine" in history
    continued = next(r for r in rows if "11 Sep" in r)
    assert "Depression is treatable" in continued and "…This rapid response is vital" in continued


def test_clip_words_cuts_at_a_word_with_an_ellipsis():
    from campaign.cli.series import clip_words

    assert clip_words("short text", 60) == "short text"
    cut = clip_words("Ketamine-Assisted Psychotherapy: A Revolution in Treating Depression", 50)
    assert cut == "Ketamine-Assisted Psychotherapy: A Revolution in…"  # never half a word
    assert clip_words("Ketamine-Assisted Psychotherapy: A Revolution", 36) == "Ketamine-Assisted Psychotherapy: A…"
