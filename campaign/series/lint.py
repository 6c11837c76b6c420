"""Safe-messaging and health-claim lint for subscriber-facing text.

Implements rules L1-L13 (safe messaging about suicide) and K1-K7 (claims about ketamine) from
shared/reference/safe_messaging.md: `RULES` is the reference's table (level, title, what to say instead) and
series/lint_rules.py holds one check per rule id. Pure: the same text always yields the same hits, in rule-id
then position order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from campaign.series.lint_rules import CHECKS, Text, excerpt, normalise

Level = Literal["error", "warning"]
Field = Literal["subject", "preheader", "note", "article"]


@dataclass(frozen=True)
class LintHit:
    rule: str
    level: Level
    message: str
    excerpt: str
    advice: str


# rule id -> (level, short title, "say instead"), straight from the reference table.
RULES: dict[str, tuple[Level, str, str]] = {
    "L1": ("error", "'commit suicide'", 'say "died by suicide" or "took their own life"'),
    "L2": ("error", "successful/failed suicide", 'say "suicide attempt" or "survived a suicide attempt"'),
    "L3": ("error", "sensational 'epidemic'/'soaring' framing", 'say "rise" or "increase", with the data source'),
    "L4": (
        "error",
        "method or means near suicide (block, human review)",
        'say only "died by suicide"; never method, quantity or lethality',
    ),
    "L5": ("error", "location framing", "do not name or describe a location"),
    "L6": ("error", "suicide presented as a solution", "present suicide as preventable; help works"),
    "L7": ("warning", "'no warning signs' framing", '"there are often warning signs" + link'),
    "L8": ("warning", "single-cause explanation", '"suicide is complex, with many factors"'),
    "L9": (
        "warning",
        "normalising suicide",
        '"most people with suicidal thoughts do not act on them; treatment works"',
    ),
    "L10": ("warning", "glorifying word near suicide", "drop the word"),
    "L11": ("warning", "'suicide victim'", '"person who died by suicide"'),
    "L12": ("warning", "suicide statistics without a help step", "add an action step or a resource"),
    "L13": ("error", "sensational subject/preheader", "rewrite without sensational wording"),
    "K1": (
        "error",
        "ketamine called FDA-approved for a psychiatric use",
        "racemic ketamine is FDA-approved only as an anaesthetic; psychiatric use is off-label "
        "(esketamine/Spravato is the approved nasal spray)",
    ),
    "K2": (
        "error",
        "esketamine/Spravato said to be approved for PTSD",
        "Spravato is approved for treatment-resistant depression and depressive symptoms with "
        "acute suicidal ideation only; it has no PTSD indication",
    ),
    "K3": (
        "warning",
        "overclaiming about ketamine",
        'describe the evidence ("early studies suggest"); claims need competent and reliable evidence',
    ),
    "K4": ("error", "dose in a newsletter", "no dosing in a newsletter; refer readers to their clinician"),
    "K5": (
        "warning",
        "at-home / mail-order / online ketamine",
        "ketamine treatment belongs in a monitored clinical setting (FDA warning, Oct 2023)",
    ),
    "K6": (
        "error",
        "ketamine called safe / side-effect-free",
        "mention the risks: sedation, dissociation, abuse and misuse, suicidal thoughts in under-25s",
    ),
    "K7": ("error", "advice to stop medication", "never advise stopping treatment; talk to your prescriber"),
    "N1": (  # series/numbers.py
        "error",
        "a phone or text number that is not in the verified crisis list",
        "remove it: crisis numbers come only from content/crisis_resources.yaml, and the crisis block adds "
        "them to every email (this rule cannot be acknowledged)",
    ),
}
_ORDER = {rule: i for i, rule in enumerate(RULES)}  # L1..L13, K1..K7 (not string order)


def lint_text(text: str, *, field: Field) -> list[LintHit]:
    """Every rule hit in one piece of subscriber-facing text, in rule-id then position order. Deterministic."""
    checked = Text(normalise(text), field)
    found: dict[tuple[str, int, int], str] = {}  # (rule, start, end) -> message; dedupes repeats
    for rule, check in CHECKS.items():
        for start, end, message in check(checked):
            found.setdefault((rule, start, end), message)
    ordered = sorted(found.items(), key=lambda kv: (_ORDER[kv[0][0]], kv[0][1], kv[0][2]))
    return [LintHit(rule, RULES[rule][0], msg, excerpt(text, s, e), RULES[rule][2]) for (rule, s, e), msg in ordered]
