"""schedule.yaml validation: every problem found at once, each with file:line, field path and a fix."""

from __future__ import annotations

import textwrap
from datetime import date, datetime

import pytest

from campaign.errors import ScheduleError
from campaign.series.schedule import parse_schedule
from tests.conftest import REPO

VALID = textwrap.dedent("""\
    campaign:
      name: "Test series"
      from: "Org <hello@example.org>"
      reply_to: "help@example.org"
      postal_address: "1 Main Street, Anytown"
      timezone: America/New_York
      send_time: "09:00"
      provider: outbox
      default_country: US
    days:
      2027-09-01:
        subject: "First"
        preheader: "One"
      2027-09-02:
        subject: "Second"
        preheader: "Two"
    """)


def problems(text: str) -> list:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    return info.value.problems


def test_the_repository_schedule_is_valid():
    loaded = parse_schedule((REPO / "schedule.yaml").read_text(encoding="utf-8"))
    schedule = loaded.schedule
    assert len(schedule.dates) == 30
    assert schedule.dates[0] == date(2027, 9, 1) and schedule.dates[-1] == date(2027, 9, 30)
    assert "World Suicide Prevention Day" in schedule.days[date(2027, 9, 10)].subject
    assert schedule.campaign.timezone == "America/New_York" and schedule.campaign.send_time == "09:00"


def test_a_valid_minimal_schedule_parses():
    schedule = parse_schedule(VALID).schedule
    assert schedule.dates == [date(2027, 9, 1), date(2027, 9, 2)]
    assert schedule.send_at(date(2027, 9, 1)).isoformat() == "2027-09-01T09:00:00-04:00"


@pytest.mark.parametrize(
    "old,new,line,field,words",
    [
        ('  name: "Test series"\n', '  name: "Test series"\n  colour: blue\n', 3, "campaign.colour", "unknown key"),
        (
            '  2027-09-02:\n    subject: "Second"',
            '  2027-09-01:\n    subject: "Second"',
            14,
            "days.2027-09-01",
            "duplicate key",
        ),
        ('subject: "Second"', "subject: |\n      Two\n      lines", 15, "days.2027-09-02.subject", "one line"),
        ('subject: "Second"', 'subject: "Two\n      lines"', 15, "days.2027-09-02.subject", "one line"),
        ('subject: "Second"', 'subject: ""', 15, "days.2027-09-02.subject", "empty"),
        ('subject: "Second"', 'subject: "   "', 15, "days.2027-09-02.subject", "empty"),
        ("2027-09-02:", "2027-10-02:", 14, "days.2027-10-02", "outside September"),
        ("timezone: America/New_York", "timezone: America/New_Yrok", 6, "campaign.timezone", "unknown timezone"),
        ('send_time: "09:00"', "send_time: 9:00", 7, "campaign.send_time", "quoted"),
        ('send_time: "09:00"', 'send_time: "25:00"', 7, "campaign.send_time", "HH:MM"),
        (
            'from: "Org <hello@example.org>"',
            'from: "Org <hello@@example.org>"',
            3,
            "campaign.from",
            "not a valid email",
        ),
        ('reply_to: "help@example.org"', 'reply_to: "help"', 4, "campaign.reply_to", "not a valid email"),
        (
            'reply_to: "help@example.org"',
            'reply_to: "help@example.org\\nBcc: x@example.org"',
            4,
            "campaign.reply_to",
            "one line",
        ),
        ("provider: outbox", "provider: carrier-pigeon", 8, "campaign.provider", ""),
        ('preheader: "Two"', "preheader: [1, 2]", 16, "days.2027-09-02.preheader", ""),
        (
            '    preheader: "Two"\n',
            '    preheader: "Two"\n    pin: Final Thoughts\n',
            17,
            "days.2027-09-02.pin",
            "list",
        ),
        ("2027-09-02:", "tomorrow:", 14, "days", "not a date"),
    ],
)
def test_invalid_schedules_name_line_field_and_fix(old, new, line, field, words):
    assert old in VALID
    found = problems(VALID.replace(old, new, 1))
    match = [p for p in found if p.field.startswith(field)]
    assert match, f"no problem on {field}: {[str(p) for p in found]}"
    p = match[0]
    assert p.line == line, str(p)
    assert words.lower() in str(p).lower()
    assert p.fix, f"no fix given: {p}"
    assert str(p).startswith(f"schedule.yaml:{line}: ")


def test_all_problems_are_reported_at_once_in_line_order():
    text = VALID.replace('  name: "Test series"\n', '  name: "Test series"\n  colour: blue\n').replace(
        '  2027-09-02:\n    subject: "Second"', '  2027-09-01:\n    subject: "Two\n      lines"'
    )
    found = problems(text)
    kinds = " | ".join(str(p) for p in found)
    assert "unknown key 'colour'" in kinds and "duplicate key 2027-09-01" in kinds and "one line" in kinds
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert {p.line for p in found} >= {3, 15, 16}


def test_a_yaml_syntax_error_names_its_line():
    found = problems(VALID.replace('subject: "Second"', 'subject: "Second'))
    assert found[0].line is not None and "YAML syntax error" in found[0].message


def test_a_day_number_or_date_resolves():
    schedule = parse_schedule(VALID).schedule
    assert schedule.resolve_day("2") == date(2027, 9, 2)
    assert schedule.resolve_day("2027-09-01") == date(2027, 9, 1)
    for bad in ("3", "0", "2027-09-05", "soon"):
        with pytest.raises(ScheduleError):
            schedule.resolve_day(bad)


def test_send_time_is_correct_across_dst():
    text = VALID.replace("timezone: America/New_York", "timezone: Pacific/Auckland").replace(
        "2027-09-02:", "2027-09-27:"
    )
    schedule = parse_schedule(text).schedule
    before, after = schedule.send_at(date(2027, 9, 1)), schedule.send_at(date(2027, 9, 27))
    assert before.utcoffset().total_seconds() == 12 * 3600  # NZST
    assert after.utcoffset().total_seconds() == 13 * 3600  # NZDT from 26 September 2027
    assert isinstance(before, datetime)


# -- header-safe text and length limits (issue 8 #3/#4, issue 9 #2) --------------------------------------
@pytest.mark.parametrize(
    "char",
    ["\r", "\n", "\u2028", "\u2029", "\u0085", "\t", "\x00", "\x1b", "\u202e", "\u200b", "\ufeff", "\u00ad", "\x7f"],
)
def test_control_and_format_characters_never_reach_a_header(char):
    from campaign.series.headers import header_problem

    assert header_problem(f"Hello{char}world")
    assert header_problem("Hello world — “quotes”, emoji 👩‍👩‍👧 and accents: café") is None  # ZWJ is allowed


@pytest.mark.parametrize("escape", ["\\L", "\\P", "\\N", "\\u202E", "\\t", "\\u200B"])
@pytest.mark.parametrize("field", ["subject", "preheader"])
def test_a_subject_or_preheader_with_an_invisible_character_is_an_error(escape, field):
    old = 'subject: "Second"' if field == "subject" else 'preheader: "Two"'
    new = f'subject: "Sec{escape}ond"' if field == "subject" else f'preheader: "T{escape}wo"'
    found = problems(VALID.replace(old, new, 1))
    assert any(p.field == f"days.2027-09-02.{field}" and "email header" in p.message for p in found), found


@pytest.mark.parametrize(
    "value",
    ["a@example.org, b@example.org", "Org <a@example.org> <b@example.org>", "Mind, Matters <a@example.org>"],
)
def test_a_from_with_two_addresses_is_an_error(value):
    found = problems(VALID.replace('from: "Org <hello@example.org>"', f'from: "{value}"', 1))
    assert any(p.field == "campaign.from" and "more than one address" in p.message for p in found), found


def test_a_quoted_name_with_a_comma_is_one_address():
    parse_schedule(VALID.replace('from: "Org <hello@example.org>"', 'from: "\\"Mind, Matters\\" <hello@example.org>"'))


def test_long_subjects_and_preheaders_warn_and_very_long_subjects_fail():
    text = VALID.replace(
        'subject: "Second"\n    preheader: "Two"', f'subject: "{"s" * 71}"\n    preheader: "{"p" * 111}"'
    )
    loaded = parse_schedule(text)
    warned = {w.field: str(w) for w in loaded.warnings}
    assert "71 characters, over 70" in warned["days.2027-09-02.subject"]
    assert "111 characters, over 110" in warned["days.2027-09-02.preheader"]
    assert all(w.line for w in loaded.warnings)
    assert parse_schedule(VALID).warnings == ()
    found = problems(VALID.replace('subject: "Second"', f'subject: "{"s" * 151}"', 1))
    assert any("151 characters" in p.message for p in found)


def test_the_repository_schedule_has_no_length_warnings_and_states_the_limits():
    text = (REPO / "schedule.yaml").read_text()
    assert parse_schedule(text).warnings == ()
    assert "70 characters" in text and "150" in text and "110" in text


def test_an_impossible_date_is_a_problem_on_its_line():
    found = problems(VALID.replace("2027-09-02:", "2027-09-31:", 1))
    assert any("2027-09-31" in p.message and "not a real date" in p.message and p.line for p in found), found
