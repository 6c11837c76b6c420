"""Safe-messaging and health-claim lint for subscriber-facing text.

Implements rules L1-L13 (safe messaging about suicide) and K1-K7 (claims about
ketamine) from shared/reference/safe_messaging.md. Pure and dependency-free:
the same text always yields the same hits, in rule-id then position order.

Design notes (why, not what):
* Text is normalised to a string of the *same length* (curly quotes -> ', Markdown
  emphasis -> spaces), so every match span points straight back at the original
  text when we cut excerpts.
* "near" is measured in words between the two matches (see `_near`), so
  "Ketamine-assisted therapy ... a safe environment" is judged on word gaps, not
  characters.
* Names of the cause ("Suicide Prevention Month", "988 Suicide & Crisis
  Lifeline") are not treated as talk *about* suicide by the proximity rules;
  otherwise every prevention sentence near "support"/"brave" would fire.
* A few rules skip negated matches ("ketamine is not a cure", "don't stop taking
  your medication", "suicide is never the only option") because those are the
  very sentences we want writers to use.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

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

_F = re.IGNORECASE

# --- shared vocabulary -------------------------------------------------------
_PRON = r"(?:his|her|their|my|your|one's)"
_SELF = r"(?:him|her|them|my|your|our|one)sel(?:f|ves)"
# Talk about suicide itself; the cause's own names and "prevent suicide" are excluded
# (see module doc): "lock up guns to help prevent suicide" is means-safety advice.
_SUICIDE = (
    r"(?<!prevent )(?<!prevents )(?<!preventing )\bsuicid\w*\b"
    r"(?!\s*(?:&|and)?\s*(?:crisis|prevention|awareness|lifeline|hotline|helpline)\b)"
)
# L4/L6 anchor: suicide, or a death described without the word.
_DEATH = (
    _SUICIDE
    + r"|\bd(?:ie|ied|ies|ying)\b|\bt(?:ake|akes|aking|ook)\s+"
    + _PRON
    + r"\s+(?:own\s+)?li(?:fe|ves)\b|\bend(?:s|ed|ing)?\s+"
    + _PRON
    + r"\s+(?:own\s+)?li(?:fe|ves)\b|\bkill(?:s|ed|ing)?\s+"
    + _SELF
    + r"\b"
)
# K-rules anchor; "ketamine" also matches inside "Ketamine-assisted" (the hyphen is
# a word boundary) but not inside "esketamine". KAP = ketamine-assisted psychotherapy.
_KETAMINE = r"\bketamine(?:[- ]assisted)?(?:\s+(?:psycho)?therapy)?\b|\bKAP\b"
_HELP = (
    r"\b(?:help\w*|support\w*|prevent\w*|treatment|reach(?:ing)?\s+out|lifeline|hotline|"
    r"helpline|crisis\s+(?:text\s+)?line|talk\s+to|988|samaritans)\b"
)
_NEGATION = re.compile(r"\b(?:not|never|no|isn't|aren't|wasn't|don't|doesn't|didn't|won't)\b", _F)

# Exact forms on purpose: "surg\w*" would catch "the Surgeon General" on suicide.
_L3_RISE = r"\b(?:skyrocket(?:s|ed|ing)?|soar(?:s|ed|ing)?|surg(?:e|es|ed|ing))\b"
_L3_TERMS = r"\bepidemic\b|" + _L3_RISE
_L4_MEANS = (
    r"\b(?:hanging|hanged|hung\s+" + _SELF + r"|overdos(?:e|ed|es|ing)|(?:\d+\s+)?"
    r"(?:pills?|tablets?|capsules?)|guns?|gunshot|shotgun|handgun|firearms?|shot\s+"
    + _SELF
    + r"|jump(?:s|ed|ing)?\s+(?:from|off)|poison(?:s|ed|ing)?|noose|ligature|"
    r"\d+(?:\.\d+)?\s*mg|mg)\b"
)
_L6_TERMS = (
    r"\b(?:(?:only\s+)?way\s+out|escape\s+(?:the|" + _PRON + r")\s+pain|"
    r"end(?:s|ed|ing)?\s+(?:the|" + _PRON + r")\s+(?:suffering|pain)|"
    r"at\s+peace(?:\s+now)?|only\s+option|no\s+other\s+(?:choice|option)|"
    r"cho(?:se|ose|oses|osing)\s+to\s+die|"
    # beyond the reference's list: the same framing in other words
    r"better\s+off\s+(?:dead|gone|without\s+(?:me|him|her|them|us|you))|end\s+it\s+all|"
    r"only\s+way\s+to\s+(?:stop|end|escape)|way\s+to\s+escape|"
    r"relief\s+from\s+(?:the|" + _PRON + r")\s+(?:pain|suffering))\b"
)
_L7_TERMS = (
    r"\bwithout\s+(?:any\s+)?warning\b|\bout\s+of\s+the\s+blue\b|\bno\s+(?:warning\s+)?signs\b|"
    r"\b(?:had|has|have)\s+everything\s+to\s+live\s+for\b|\bcame\s+out\s+of\s+nowhere\b|"
    r"\bseemed\s+(?:so\s+|perfectly\s+|completely\s+)?(?:happy|fine|okay|normal)\s+(?:before|until|right\s+up)\b"
)
_L10_TERMS = r"\b(?:brave(?:ly)?|heroic(?:ally)?|romantic|beautiful(?:ly)?|peaceful(?:ly)?)\b"
_STAT = (
    r"\d+(?:,\d{3})*(?:\.\d+)?(?:\s*(?:-|–|to|in)\s*\d+(?:,\d{3})*(?:\.\d+)?)?"
    r"(?:\s*(?:%|percent\b|per\s*cent\b))?"
)  # 800,000 | 15-29 | 1 in 5 | 36%
_SEEKING = r"\b(?:reach\w*\s+out|ask\w*\s+for\s+help|seek\w*\s+help|get\w*\s+help|talk\w*|speak\w*\s+up)\b"

# Phrase rules with no proximity condition: rule -> pattern.
_PHRASES = {
    "L1": r"\bcommit(?:s|ted|ting)?\s+suicide\b",
    "L2": (
        r"\b(?:un)?successful\s+(?:suicides?\b(?!\s+prevention)|"
        r"attempts?\s+(?:at\s+suicide|to\s+(?:die|kill|end)))|\b(?:failed|completed)\s+suicides?\b(?!\s+prevention)|"
        r"\b(?:suicide\s+)?attempts?\s+(?:that\s+|which\s+)?(?:succeeded|failed)\b"
    ),
    "L3": r"\bsuicide\s+epidemic\b|\bepidemic\s+of\s+suicides?\b",
    "L5": (
        r"\bsuicides?\s+(?:hot\s?spots?|bridges?|forests?|sites?|spots?|cliffs?)\b|"
        r"\bhot\s?spots?\s+for\s+suicides?\b"
    ),
    "L8": (
        r"\b(?:drove|drive[sn]?|driving|pushed|push(?:es|ing)?|led)\s+(?:\w+\s+){0,3}?to\s+"
        r"(?:suicide\b(?!\s+prevention)|kill|take\s+" + _PRON + r"\s+(?:own\s+)?life)\b|"
        r"\bcaused\s+(?!by\b)(?:\w+\s+){0,2}?suicide\b"
    ),
    "L9": (
        r"\bsuicide\s+(?:is|was|seems|can\s+be)\s+(?:(?:so|very|quite|more|perfectly|totally|"
        r"completely|a|an|just|only)\s+)*(?:common|normal|understandable|inevitable|choice|"
        r"natural|rational|reasonable)\b|\bsuicide\s+(?:makes|made)\s+sense\b|"
        r"\banyone\s+would\s+(?:consider|think\s+about|choose|contemplate)\s+suicide\b|"
        r"\b(?:it\s+is|it's)\s+(?:normal|natural|understandable)\s+to\s+(?:choose|attempt|die\s+by)\s+suicide\b"
    ),
    "L11": r"\bsuicide\s+victims?\b|\bvictims?\s+of\s+suicide\b",
    "K4": r"\b\d+(?:\.\d+)?\s*mg(?:\s*/\s*kg)?\b|\bmg\s*/\s*kg\b|\btroches?\b|\blozenges?\b",
}

_TRANSLATE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2010": "-", "\u2011": "-", "*": " ", "_": " ", "`": " "})
_WORD = re.compile(r"\w+(?:'\w+)*")


def _normalise(text: str) -> str:
    # Same length as the input on purpose: spans stay valid for the original text.
    return text.translate(_TRANSLATE)


@lru_cache(maxsize=32)
def _tokens(text: str) -> tuple[list[int], list[int]]:
    """Start and end offsets of every word (cached: `_near` asks for them per match)."""
    words = list(_WORD.finditer(text))
    return [w.start() for w in words], [w.end() for w in words]


def _word_span(text: str, start: int, end: int) -> tuple[int, int]:
    """First and last word index touched by text[start:end]."""
    starts, ends = _tokens(text)
    return bisect_right(ends, start), max(bisect_left(starts, end) - 1, bisect_right(ends, start))


def _near(text: str, pattern_a: str, pattern_b: str, words: int = 8) -> list[tuple[re.Match, re.Match]]:
    """Each match of pattern_a paired with the closest pattern_b match at most `words` words away."""
    b_spans = [(m, _word_span(text, m.start(), m.end())) for m in re.finditer(pattern_b, text, _F)]
    pairs = []
    for a in re.finditer(pattern_a, text, _F):
        a0, a1 = _word_span(text, a.start(), a.end())
        best = None
        for b, (b0, b1) in b_spans:
            gap = max(b0 - a1, a0 - b1, 0)  # 0 when the two matches overlap
            if gap <= words and (best is None or gap < best[0]):
                best = (gap, b)
        if best is not None:
            pairs.append((a, best[1]))
    return pairs


def _negated(text: str, start: int, words: int = 3) -> bool:
    """True when one of the `words` words before `start` is a negation ("not a cure")."""
    before = _WORD.findall(text[:start])[-words:]
    return any(_NEGATION.fullmatch(w) for w in before)


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans: split after . ! ? followed by space, and at line breaks (list items)."""
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+|\s*\n\s*", text):
        if text[start : m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _sentence_of(text: str, pos: int) -> tuple[int, int]:
    for s, e in _sentences(text):
        if s <= pos < e:
            return s, e
    return 0, len(text)


def _excerpt(text: str, start: int, end: int, context: int = 4) -> str:
    """The matched words plus a few words either side, whitespace collapsed."""
    words = list(_WORD.finditer(text))
    before = [w for w in words if w.end() <= start][-context:]
    after = [w for w in words if w.start() >= end][:context]
    s = before[0].start() if before else start
    e = after[-1].end() if after else end
    snippet = " ".join(text[s:e].split())
    more_before, more_after = _WORD.search(text[:s]), _WORD.search(text[e:])  # punctuation alone is not "more"
    return ("…" if more_before else "") + snippet + ("…" if more_after else "")


def _say(m: re.Match) -> str:
    return " ".join(m.group(0).split())


def lint_text(text: str, *, field: Field) -> list[LintHit]:
    """Every rule hit in one piece of subscriber-facing text, in rule-id then position order. Deterministic."""
    norm = _normalise(text)
    found: dict[tuple[str, int, int], str] = {}  # (rule, start, end) -> message; dedupes repeats

    def hit(rule: str, start: int, end: int, message: str) -> None:
        found.setdefault((rule, start, end), message)

    def hit_near(rule: str, a: str, b: str, words: int = 8, negatable: bool = False) -> None:
        for ma, mb in _near(norm, a, b, words):
            if not (negatable and _negated(norm, ma.start())):
                s, e = min(ma.start(), mb.start()), max(ma.end(), mb.end())
                hit(rule, s, e, f'"{_say(ma)}" near "{_say(mb)}"')

    for rule, pattern in _PHRASES.items():
        for m in re.finditer(pattern, norm, _F):
            hit(rule, m.start(), m.end(), f'says "{_say(m)}"')

    hit_near("L3", _L3_RISE, _SUICIDE)
    hit_near("L4", _L4_MEANS, _DEATH)
    # L6 phrases ("way out", "only option") are everyday English; they only frame
    # suicide as a solution when the text is talking about suicide or a death.
    # L7 likewise: "no signs of dependence" is fine; "no signs" about a death is the framing.
    if re.search(_DEATH, norm, _F):
        for m in re.finditer(_L6_TERMS, norm, _F):
            if not _negated(norm, m.start()):  # "suicide is never the only option" is fine
                hit("L6", m.start(), m.end(), f'says "{_say(m)}" in a text about suicide')
        for m in re.finditer(_L7_TERMS, norm, _F):
            hit("L7", m.start(), m.end(), f'says "{_say(m)}" in a text about suicide')
    # L10: "reaching out is brave" is supportive, so a glorifying word in a sentence
    # that is about seeking help does not count.
    for ma, mb in _near(norm, _L10_TERMS, _SUICIDE):
        s, e = _sentence_of(norm, ma.start())
        if not re.search(_SEEKING, norm[s:e], _F):
            hit("L10", min(ma.start(), mb.start()), max(ma.end(), mb.end()), f'"{_say(ma)}" near "{_say(mb)}"')
    # L8's second form: "because of X" inside a sentence about suicide.
    for s, e in _sentences(norm):
        if re.search(_SUICIDE, norm[s:e], _F):
            for m in re.finditer(r"\bbecause\s+of\b", norm[s:e], _F):
                hit("L8", s + m.start(), s + m.end(), 'gives a single cause ("because of") for a suicide')

    # L12: per block. A statistic is a number (a range, "1 in 5", a percentage) in a sentence
    # that mentions suicide; bare years ("In 2022") are dates, not statistics.
    if not re.search(_HELP, norm, _F):
        stats = []
        for s, e in _sentences(norm):
            if re.search(r"\bsuicid", norm[s:e], _F):
                for m in re.finditer(_STAT, norm[s:e], _F):
                    if not re.fullmatch(r"(?:19|20)\d\d", m.group(0).strip()):
                        stats.append((s + m.start(), s + m.end(), m.group(0).strip()))
        if len(stats) >= 2:
            listed = "; ".join(x[2] for x in stats)
            hit(
                "L12",
                stats[0][0],
                stats[0][1],
                f"{len(stats)} suicide statistics ({listed}) and no help-seeking or prevention words",
            )

    # L13: the most visible lines get the strictest test: "suicide" anywhere plus
    # any sensational term anywhere, no proximity needed. The two exceptions the
    # body rules make still hold ("never the only option", "reaching out is brave"):
    # those are the supportive lines a subject should carry.
    if field in ("subject", "preheader") and re.search(r"\bsuicid", norm, _F):
        for m in re.finditer("|".join((_L3_TERMS, _L4_MEANS, _L6_TERMS, _L10_TERMS)), norm, _F):
            s, e = _sentence_of(norm, m.start())
            if re.fullmatch(_L6_TERMS, m.group(0), _F) and _negated(norm, m.start()):
                continue
            if re.fullmatch(_L10_TERMS, m.group(0), _F) and re.search(_SEEKING, norm[s:e], _F):
                continue
            hit("L13", m.start(), m.end(), f'{field} pairs "suicide" with "{_say(m)}"')

    # K1: racemic ketamine called FDA-approved for a psychiatric use. A sentence about
    # esketamine/Spravato is a different (approved) drug; "FDA-approved as an
    # anaesthetic ... off-label for depression" is the correct statement.
    approved = r"\bFDA[- ]?(?:approved|approval|cleared)\b|\bapproved\s+by\s+the\s+(?:U\.?S\.?\s+)?FDA\b"
    for ma, mb in _near(norm, approved, _KETAMINE):
        s, e = _sentence_of(norm, ma.start())
        sentence, tail = norm[s:e], norm[ma.end() : ma.end() + 40]
        if (
            re.search(r"\b(?:depress\w*|PTSD|post-traumatic|anxiety)\b", sentence, _F)
            and not re.search(r"\b(?:esketamine|spravato)\b|off[- ]label", sentence, _F)
            and not re.match(r"\W*(?:\w+\W+){0,2}an(?:a)?esthe", tail, _F)
            and not _negated(norm, ma.start())
        ):
            hit(
                "K1",
                min(ma.start(), mb.start()),
                max(ma.end(), mb.end()),
                f'"{_say(ma)}" near "{_say(mb)}" with a psychiatric condition',
            )
    # K2: in an esketamine/Spravato sentence, an approval word within 5 words of PTSD.
    for s, e in _sentences(norm):
        if re.search(r"\b(?:esketamine|spravato)\b", norm[s:e], _F):
            for ma, mb in _near(
                norm[s:e], r"\b(?:approv\w*|indicat\w*|cleared)\b", r"\bPTSD\b|\bpost-traumatic\b", words=5
            ):
                if not _negated(norm[s:e], ma.start()):
                    hit(
                        "K2",
                        s + min(ma.start(), mb.start()),
                        s + max(ma.end(), mb.end()),
                        f'esketamine/Spravato "{_say(ma)}" for "{_say(mb)}"',
                    )
    # K3: the reference's words (cure, miracle, guaranteed, instant, permanent relief)
    # plus hype the reference says the article raises: breakthrough, game-changer,
    # revolution, exponential. Same overclaiming, so same rule, still only a warning.
    # Warnings are cheap, so the scope is "near ketamine OR in a sentence that names it".
    claim = (
        r"\b(?:cur(?:e|es|ed)|miracle|miraculous|guarantee[sd]?|instant(?:ly)?|permanent(?:ly)?|"
        r"breakthrough|game[- ]chang(?:er|ing)|revolution(?:ary|i[sz]e[sd]?|i[sz]ing)?|"
        r"exponential(?:ly)?)\b"
    )
    close = {a.start() for a, _ in _near(norm, claim, _KETAMINE)}
    for m in re.finditer(claim, norm, _F):
        s, e = _sentence_of(norm, m.start())
        if (m.start() in close or re.search(_KETAMINE, norm[s:e], _F)) and not _negated(norm, m.start()):
            hit("K3", m.start(), m.end(), f'overclaims: "{_say(m)}" about ketamine')
    hit_near(
        "K5",
        r"\bat[- ]home\b|\bmail[- ]order(?:ed)?\b|\bonline\b|\btelehealth\b|\bby\s+mail\b",
        _KETAMINE,
        negatable=True,
    )
    # K6: "not safe" is a warning, not a claim, so only the bare "safe" is negatable;
    # "non-addictive" / "no side effects" carry their own negation and always count.
    hit_near("K6", r"\bsafe(?:ly|r|st)?\b(?!\s*\?)", _KETAMINE, negatable=True)  # "Is ketamine safe?" asks
    hit_near(
        "K6",
        r"\bnon[- ]?addictive\b|\b(?:not|isn't)\s+addictive\b|\b(?:no|without\s+(?:any\s+)?|"
        r"free\s+of)\s+side[- ]effects\b|\bside[- ]effect[- ]free\b",
        _KETAMINE,
    )
    for m in re.finditer(
        r"\b(?:stop|stopping|quit|quitting|discontinue|ditch|replace|come\s+off|get\s+off)"
        r"\s+(?:\w+\s+){0,4}?(?:antidepressants?|medications?|meds|SSRIs?|prescriptions?)\b",
        norm,
        _F,
    ):
        # "don't stop taking your medication" is the safe advice; "if you stop ..." is a caution
        conditional = re.search(r"\b(?:if|before|unless)\b(?:\W+\w+){0,2}\W*$", norm[: m.start()], _F)
        if not (_negated(norm, m.start()) or conditional):
            hit("K7", m.start(), m.end(), f'says "{_say(m)}"')

    ordered = sorted(found.items(), key=lambda kv: (_ORDER[kv[0][0]], kv[0][1], kv[0][2]))
    return [LintHit(rule, RULES[rule][0], msg, _excerpt(text, s, e), RULES[rule][2]) for (rule, s, e), msg in ordered]
