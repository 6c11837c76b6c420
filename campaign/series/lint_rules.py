"""The safe-messaging rules as a table: one small check per rule id of shared/reference/safe_messaging.md,
registered in `CHECKS` (series/lint.py runs them). Pure and dependency-free.

Design notes (why, not what):
* Text is normalised to a string of the *same length* (curly quotes -> ', Markdown emphasis -> spaces), so every
  match span points straight back at the original text when we cut excerpts.
* "near" is measured in words between the two matches (see `near`), so "Ketamine-assisted therapy ... a safe
  environment" is judged on word gaps, not characters.
* Names of the cause ("Suicide Prevention Month", "988 Suicide & Crisis Lifeline") are not treated as talk *about*
  suicide by the proximity rules; otherwise every prevention sentence near "support"/"brave" would fire.
* A few rules skip negated matches ("ketamine is not a cure", "don't stop taking your medication", "suicide is
  never the only option") because those are the very sentences we want writers to use.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

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


def normalise(text: str) -> str:
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


def near(text: str, pattern_a: str, pattern_b: str, words: int = 8) -> list[tuple[re.Match, re.Match]]:
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


def excerpt(text: str, start: int, end: int, context: int = 4) -> str:
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


# -- the rules: one function per rule id of shared/reference/safe_messaging.md ---------------------------
Hit = tuple[int, int, str]  # (start, end, message) in the normalised text
Check = Callable[["Text"], Iterator[Hit]]
CHECKS: dict[str, Check] = {}


def rule(rule_id: str) -> Callable[[Check], Check]:
    """Register the check of `rule_id` (one per rule; `lint_text` runs them all)."""

    def register(check: Check) -> Check:
        assert rule_id not in CHECKS, f"{rule_id} registered twice"
        CHECKS[rule_id] = check
        return check

    return register


@dataclass(frozen=True)
class Text:
    """One piece of subscriber-facing text, normalised (same length as the original), and where it stands."""

    norm: str
    field: str

    def phrase(self, pattern: str) -> Iterator[Hit]:
        for m in re.finditer(pattern, self.norm, _F):
            yield m.start(), m.end(), f'says "{_say(m)}"'

    def near(self, a: str, b: str, words: int = 8, negatable: bool = False) -> Iterator[Hit]:
        for ma, mb in near(self.norm, a, b, words):
            if not (negatable and _negated(self.norm, ma.start())):
                yield min(ma.start(), mb.start()), max(ma.end(), mb.end()), f'"{_say(ma)}" near "{_say(mb)}"'

    def about_death(self) -> bool:
        return re.search(_DEATH, self.norm, _F) is not None


@rule("L1")
def commit_suicide(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L1"])


@rule("L2")
def successful_or_failed(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L2"])


@rule("L3")
def sensational_rise(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L3"])
    yield from t.near(_L3_RISE, _SUICIDE)


@rule("L4")
def method_or_means(t: Text) -> Iterator[Hit]:
    yield from t.near(_L4_MEANS, _DEATH)


@rule("L5")
def location(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L5"])


@rule("L6")
def suicide_as_solution(t: Text) -> Iterator[Hit]:
    # "way out", "only option" are everyday English; they only frame suicide as a solution when the text is
    # talking about suicide or a death. "suicide is never the only option" is fine.
    if t.about_death():
        for m in re.finditer(_L6_TERMS, t.norm, _F):
            if not _negated(t.norm, m.start()):
                yield m.start(), m.end(), f'says "{_say(m)}" in a text about suicide'


@rule("L7")
def no_warning_signs(t: Text) -> Iterator[Hit]:
    # "no signs of dependence" is fine; "no signs" about a death is the framing
    if t.about_death():
        for m in re.finditer(_L7_TERMS, t.norm, _F):
            yield m.start(), m.end(), f'says "{_say(m)}" in a text about suicide'


@rule("L8")
def single_cause(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L8"])
    for s, e in _sentences(t.norm):  # the second form: "because of X" inside a sentence about suicide
        if re.search(_SUICIDE, t.norm[s:e], _F):
            for m in re.finditer(r"\bbecause\s+of\b", t.norm[s:e], _F):
                yield s + m.start(), s + m.end(), 'gives a single cause ("because of") for a suicide'


@rule("L9")
def normalising(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L9"])


@rule("L10")
def glorifying(t: Text) -> Iterator[Hit]:
    # "reaching out is brave" is supportive: a glorifying word in a sentence about seeking help does not count
    for ma, mb in near(t.norm, _L10_TERMS, _SUICIDE):
        s, e = _sentence_of(t.norm, ma.start())
        if not re.search(_SEEKING, t.norm[s:e], _F):
            yield min(ma.start(), mb.start()), max(ma.end(), mb.end()), f'"{_say(ma)}" near "{_say(mb)}"'


@rule("L11")
def suicide_victim(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["L11"])


@rule("L12")
def statistics_without_help(t: Text) -> Iterator[Hit]:
    # per block: a statistic is a number (a range, "1 in 5", a percentage) in a sentence that mentions suicide;
    # bare years ("In 2022") are dates, not statistics
    if re.search(_HELP, t.norm, _F):
        return
    stats = []
    for s, e in _sentences(t.norm):
        if re.search(r"\bsuicid", t.norm[s:e], _F):
            for m in re.finditer(_STAT, t.norm[s:e], _F):
                if not re.fullmatch(r"(?:19|20)\d\d", m.group(0).strip()):
                    stats.append((s + m.start(), s + m.end(), m.group(0).strip()))
    if len(stats) >= 2:
        listed = "; ".join(x[2] for x in stats)
        yield (
            stats[0][0],
            stats[0][1],
            f"{len(stats)} suicide statistics ({listed}) and no help-seeking or prevention words",
        )


@rule("L13")
def sensational_subject(t: Text) -> Iterator[Hit]:
    # the most visible lines get the strictest test: "suicide" anywhere plus any sensational term anywhere.
    # The body rules' two exceptions still hold ("never the only option", "reaching out is brave").
    if t.field not in ("subject", "preheader") or not re.search(r"\bsuicid", t.norm, _F):
        return
    for m in re.finditer("|".join((_L3_TERMS, _L4_MEANS, _L6_TERMS, _L10_TERMS)), t.norm, _F):
        s, e = _sentence_of(t.norm, m.start())
        if re.fullmatch(_L6_TERMS, m.group(0), _F) and _negated(t.norm, m.start()):
            continue
        if re.fullmatch(_L10_TERMS, m.group(0), _F) and re.search(_SEEKING, t.norm[s:e], _F):
            continue
        yield m.start(), m.end(), f'{t.field} pairs "suicide" with "{_say(m)}"'


_APPROVED = r"\bFDA[- ]?(?:approved|approval|cleared)\b|\bapproved\s+by\s+the\s+(?:U\.?S\.?\s+)?FDA\b"


@rule("K1")
def fda_approved_psychiatric(t: Text) -> Iterator[Hit]:
    # a sentence about esketamine/Spravato is a different (approved) drug; "FDA-approved as an anaesthetic ...
    # off-label for depression" is the correct statement
    for ma, mb in near(t.norm, _APPROVED, _KETAMINE):
        s, e = _sentence_of(t.norm, ma.start())
        sentence, tail = t.norm[s:e], t.norm[ma.end() : ma.end() + 40]
        if (
            re.search(r"\b(?:depress\w*|PTSD|post-traumatic|anxiety)\b", sentence, _F)
            and not re.search(r"\b(?:esketamine|spravato)\b|off[- ]label", sentence, _F)
            and not re.match(r"\W*(?:\w+\W+){0,2}an(?:a)?esthe", tail, _F)
            and not _negated(t.norm, ma.start())
        ):
            span = min(ma.start(), mb.start()), max(ma.end(), mb.end())
            yield *span, f'"{_say(ma)}" near "{_say(mb)}" with a psychiatric condition'


@rule("K2")
def spravato_for_ptsd(t: Text) -> Iterator[Hit]:
    # in an esketamine/Spravato sentence, an approval word within 5 words of PTSD
    for s, e in _sentences(t.norm):
        sentence = t.norm[s:e]
        if re.search(r"\b(?:esketamine|spravato)\b", sentence, _F):
            for ma, mb in near(sentence, r"\b(?:approv\w*|indicat\w*|cleared)\b", r"\bPTSD\b|\bpost-traumatic\b", 5):
                if not _negated(sentence, ma.start()):
                    span = s + min(ma.start(), mb.start()), s + max(ma.end(), mb.end())
                    yield *span, f'esketamine/Spravato "{_say(ma)}" for "{_say(mb)}"'


# The reference's words (cure, miracle, guaranteed, instant, permanent relief) plus the hype the reference
# says the article raises: breakthrough, game-changer, revolution, exponential. Still only a warning, so the
# scope is "near ketamine OR in a sentence that names it".
_CLAIM = (
    r"\b(?:cur(?:e|es|ed)|miracle|miraculous|guarantee[sd]?|instant(?:ly)?|permanent(?:ly)?|"
    r"breakthrough|game[- ]chang(?:er|ing)|revolution(?:ary|i[sz]e[sd]?|i[sz]ing)?|"
    r"exponential(?:ly)?)\b"
)


@rule("K3")
def overclaiming(t: Text) -> Iterator[Hit]:
    close = {a.start() for a, _ in near(t.norm, _CLAIM, _KETAMINE)}
    for m in re.finditer(_CLAIM, t.norm, _F):
        s, e = _sentence_of(t.norm, m.start())
        if (m.start() in close or re.search(_KETAMINE, t.norm[s:e], _F)) and not _negated(t.norm, m.start()):
            yield m.start(), m.end(), f'overclaims: "{_say(m)}" about ketamine'


@rule("K4")
def dose(t: Text) -> Iterator[Hit]:
    yield from t.phrase(_PHRASES["K4"])


@rule("K5")
def at_home(t: Text) -> Iterator[Hit]:
    at_home = r"\bat[- ]home\b|\bmail[- ]order(?:ed)?\b|\bonline\b|\btelehealth\b|\bby\s+mail\b"
    yield from t.near(at_home, _KETAMINE, negatable=True)


@rule("K6")
def called_safe(t: Text) -> Iterator[Hit]:
    # "not safe" is a warning, not a claim, so only the bare "safe" is negatable ("Is ketamine safe?" asks);
    # "non-addictive" / "no side effects" carry their own negation and always count
    yield from t.near(r"\bsafe(?:ly|r|st)?\b(?!\s*\?)", _KETAMINE, negatable=True)
    no_risk = (
        r"\bnon[- ]?addictive\b|\b(?:not|isn't)\s+addictive\b|\b(?:no|without\s+(?:any\s+)?|"
        r"free\s+of)\s+side[- ]effects\b|\bside[- ]effect[- ]free\b"
    )
    yield from t.near(no_risk, _KETAMINE)


@rule("K7")
def stop_medication(t: Text) -> Iterator[Hit]:
    stop = (
        r"\b(?:stop|stopping|quit|quitting|discontinue|ditch|replace|come\s+off|get\s+off)"
        r"\s+(?:\w+\s+){0,4}?(?:antidepressants?|medications?|meds|SSRIs?|prescriptions?)\b"
    )
    for m in re.finditer(stop, t.norm, _F):
        # "don't stop taking your medication" is the safe advice; "if you stop ..." is a caution
        conditional = re.search(r"\b(?:if|before|unless)\b(?:\W+\w+){0,2}\W*$", t.norm[: m.start()], _F)
        if not (_negated(t.norm, m.start()) or conditional):
            yield m.start(), m.end(), f'says "{_say(m)}"'
