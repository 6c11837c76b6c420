"""Tests for campaign.lint (rules L1-L13, K1-K7 of shared/reference/safe_messaging.md).

Run from the repo root with: PYTHONPATH=/work/main python3 -m pytest tests/test_lint.py -q
"""

import pathlib
import re

import pytest

from campaign.series.lint import RULES, LintHit, lint_text
from campaign.series.lint_rules import CHECKS, near

ARTICLE = pathlib.Path("/work/shared/seed/article.txt")

EXPECTED_LEVELS = {
    "L1": "error",
    "L2": "error",
    "L3": "error",
    "L4": "error",
    "L5": "error",
    "L6": "error",
    "L7": "warning",
    "L8": "warning",
    "L9": "warning",
    "L10": "warning",
    "L11": "warning",
    "L12": "warning",
    "L13": "error",
    "K1": "error",
    "K2": "error",
    "K3": "warning",
    "K4": "error",
    "K5": "warning",
    "K6": "error",
    "K7": "error",
    "N1": "error",
}


def rules_of(text, field="article"):
    return {h.rule for h in lint_text(text, field=field)}


# (rule, level, field, text): each text must produce at least this hit.
POSITIVE = [
    ("L1", "error", "article", "He committed suicide in 2019, his family said."),
    ("L1", "error", "note", "Why do people commit suicide?"),
    ("L2", "error", "article", "She survived an unsuccessful suicide attempt last year."),
    ("L2", "error", "article", "The county recorded more completed suicides than road deaths."),
    ("L2", "error", "article", "After a failed suicide attempt, he was admitted to hospital."),
    ("L3", "error", "article", "Experts warn of a suicide epidemic among young men."),
    ("L3", "error", "article", "Suicide rates are soaring among teenagers, a new report says."),
    ("L4", "error", "article", "He died by suicide after swallowing 40 pills."),
    ("L4", "error", "article", "She used a gun to take her own life."),
    ("L4", "error", "article", "The man jumped from the bridge and died at the scene."),
    ("L4", "error", "article", "Police said the suicide involved a firearm kept at home."),
    ("L5", "error", "article", "The gorge is known locally as a suicide hotspot."),
    ("L5", "error", "article", "Tourists still visit the so-called suicide forest."),
    ("L6", "error", "article", "To him, suicide seemed the only way out."),
    ("L6", "error", "note", "After her suicide, friends said she is at peace now."),
    ("L6", "error", "article", "He chose to die rather than face another winter."),
    ("L7", "warning", "article", "Her suicide came completely without warning."),
    ("L7", "warning", "article", "He had everything to live for, his teacher said after he died."),
    ("L7", "warning", "article", "Before her suicide there were no signs that anything was wrong."),
    ("L8", "warning", "article", "Years of bullying drove him to suicide."),
    ("L8", "warning", "article", "His suicide happened because of the divorce."),
    ("L9", "warning", "article", "Suicide is understandable when life gets this hard."),
    ("L9", "warning", "article", "Some say suicide is a choice like any other."),
    ("L10", "warning", "article", "His suicide was a brave act of defiance."),
    ("L10", "warning", "article", "The film shows her suicide as peaceful and beautiful."),
    ("L11", "warning", "article", "The suicide victim was a 17-year-old student."),
    (
        "L12",
        "warning",
        "article",
        "About 1 in 5 adults live with a mental illness. Nearly 50,000 Americans died by suicide in 2022, "
        "and 46% of people who die by suicide had a known mental health condition.",
    ),
    (
        "L12",
        "warning",
        "article",
        "In 2022, 49,476 people died by suicide in the US. Suicide rates rose 36% between 2000 and 2021.",
    ),
    (
        "L12",
        "warning",
        "article",  # the article's own statistics list
        "  • Close to 800,000 people die due to suicide every year, which is one person every 40 seconds.\n"
        "  • Suicide is the second leading cause of death among 15-29-year-olds globally.",
    ),
    ("L13", "error", "subject", "Suicide rates soaring: what the data says"),
    ("L13", "error", "preheader", "A beautiful tribute to a friend lost to suicide"),
    ("L13", "error", "subject", "Teen suicide and the 40 pills nobody noticed"),
    ("K1", "error", "article", "Ketamine is now FDA-approved for depression and PTSD."),
    ("K1", "error", "note", "Our clinic offers FDA approved ketamine infusions for anxiety."),
    ("K2", "error", "article", "Spravato is approved for PTSD and treatment-resistant depression."),
    ("K2", "error", "article", "Esketamine is FDA-approved for PTSD in adults."),
    ("K3", "warning", "article", "Ketamine is a miracle cure for depression."),
    ("K3", "warning", "article", "Ketamine-assisted therapy offers instant, permanent relief."),
    ("K3", "warning", "article", "They said ketamine\u2019s a guaranteed fix."),
    (
        "K3",
        "warning",
        "article",  # article hype, flagged as K3 overclaiming
        "Ketamine-assisted psychotherapy has demonstrated a new profound hope, and ketamine is "
        "considered a breakthrough therapy.",
    ),
    (
        "K3",
        "warning",
        "article",
        "The efficacy of ketamine isn\u2019t just about short-term relief\u2014it's proving to be a "
        "game-changer in providing long-term results.",
    ),
    ("K3", "warning", "article", "Ketamine-Assisted Psychotherapy: A Revolution in Treating Depression"),
    ("K4", "error", "article", "A typical infusion is 0.5 mg/kg of ketamine over 40 minutes."),
    ("K4", "error", "article", "Patients dissolve a 200 mg troche under the tongue."),
    ("K4", "error", "article", "Ketamine lozenges are prescribed by some clinics."),
    ("K5", "warning", "article", "Mail-order ketamine kits let you treat yourself."),
    ("K5", "warning", "article", "Book an online ketamine consultation today."),
    ("K5", "warning", "article", "At-home ketamine is growing in popularity."),
    ("K6", "error", "article", "Ketamine is safe and non-addictive when used properly."),
    ("K6", "error", "article", "Ketamine therapy has no side effects for most people."),
    (
        "K6",
        "error",
        "article",  # two article paragraphs as one block: the acknowledgeable hit
        "Ketamine-assisted therapy offers a unique approach.\n\nBy facilitating a safe environment "
        "where these memories can be revisited, patients can process traumatic experiences.",
    ),
    ("K7", "error", "article", "Once ketamine works, you can stop taking your antidepressants."),
    ("K7", "error", "note", "Many patients quit all of their medications after six sessions."),
    # Wordings beyond the reference's examples (issue 10 #5): the same framings in other words.
    ("L9", "warning", "note", "Suicide is a natural response to unbearable pain."),
    ("L9", "warning", "article", "Suicide makes sense when you have lost everything."),
    ("L9", "warning", "article", "Anyone would think about suicide in her position."),
    ("L9", "warning", "note", "It's understandable to choose suicide."),
    ("L6", "error", "article", "He felt his family would be better off without him, and died by suicide."),
    ("L6", "error", "note", "She wanted to end it all, and died by suicide."),
    ("L6", "error", "article", "For him, suicide was the only way to stop the pain."),
    ("L6", "error", "article", "Suicide looked like a way to escape."),
    ("L7", "warning", "article", "His suicide came out of nowhere."),
    ("L7", "warning", "article", "She seemed so happy before she died by suicide."),
    ("L2", "error", "article", "It was a suicide attempt that succeeded."),
]


@pytest.mark.parametrize("rule,level,field,text", POSITIVE, ids=[f"{p[0]}-{i}" for i, p in enumerate(POSITIVE)])
def test_positive(rule, level, field, text):
    hits = [h for h in lint_text(text, field=field) if h.rule == rule]
    assert hits, f"{rule} did not fire on: {text!r}; got {lint_text(text, field=field)}"
    assert all(h.level == level for h in hits)
    assert all(h.advice == RULES[rule][2] and h.message and h.excerpt for h in hits)


def test_every_rule_has_a_positive_case():
    assert {p[0] for p in POSITIVE} | {"N1"} == set(RULES)  # N1 needs the verified list: tests below


# Ordinary supportive text: must produce no hit at all, in any field.
SAFE = [
    "Her brother died by suicide in 2019.",
    "Suicide prevention is everyone's business.",
    "Meet Sam, a suicide attempt survivor who now volunteers.",
    "Help is available.",
    "Treatment works.",
    "You are not alone.",
    "September is National Suicide Prevention Month.",
    "September 10 is World Suicide Prevention Day.",
    "Call or text the 988 Suicide & Crisis Lifeline any time.",
    "The work has begun, and support is growing.",
    "If you are thinking about suicide, reaching out is brave: call or text 988.",
    "Suicide is never the only option; help is available.",
    "There are often warning signs, and help is available.",
    "Most people with suicidal thoughts do not act on them; treatment works.",
    "Ketamine is not a cure, and it is not FDA-approved for depression.",
    "Don\u2019t stop taking your medication without talking to your prescriber.",
    "Esketamine (Spravato) nasal spray is FDA-approved for treatment-resistant depression in adults.",
    "Racemic ketamine is FDA-approved only as an anaesthetic; its use for depression is off-label.",
    "Spravato has no PTSD indication.",
    "Ketamine is not safe without medical monitoring.",
    "Ketamine treatment happens in a certified clinic with two hours of monitoring.",
    "The Surgeon General's national strategy on suicide calls for community support.",
]


@pytest.mark.parametrize("text", SAFE)
@pytest.mark.parametrize("field", ["subject", "note", "article"])
def test_safe_text_has_no_hits(text, field):
    assert lint_text(text, field=field) == []


# Sentences from the source article (and neighbours) that must not trigger a given rule.
NOT_RULE = [
    ("L4", "Close to 800,000 people die due to suicide every year, which is one person every 40 seconds."),
    ("L8", "Close to 800,000 people die due to suicide every year, which is one person every 40 seconds."),
    ("L9", "Suicide is the second leading cause of death among 15-29-year-olds globally."),
    ("L12", "Suicide is the second leading cause of death among 15-29-year-olds globally."),  # one statistic
    (
        "K4",
        "In low doses, these effects became therapeutically useful, leading researchers to explore its "
        "potential as a treatment for mental health disorders.",
    ),
    (
        "K4",
        "Individuals undergo a session where ketamine is administered, typically intravenously or "
        "sublingually, in a controlled clinical environment, followed by psychotherapeutic guidance.",
    ),
    ("K4", "In a ketamine therapy session, the patient receives a sub-anesthetic dose of ketamine."),
    (
        "K6",
        "By facilitating a safe environment where these memories can be revisited without overwhelming "
        "fear or emotional pain, patients can process and integrate traumatic experiences more effectively.",
    ),
    (
        "K6",
        "During a ketamine therapy session, the altered state induced by ketamine often makes patients more "
        "receptive to therapeutic interventions. In this state of heightened introspection and reduced "
        "defenses, there's an opportunity to reprocess traumatic memories or long-held negative beliefs in "
        "a safe environment.",
    ),
    (
        "K3",
        "In contrast, ketamine has been observed to reduce depressive symptoms within hours, and these "
        "effects can last for weeks to months after a single dose.",
    ),
    (
        "K1",
        "Ketamine, primarily known as an anesthetic, has gained attention in the psychiatric community for "
        "its rapid-acting antidepressant properties, especially in treatment-resistant depression and "
        "post-traumatic stress disorder.",
    ),
    (
        "K7",
        "All viewers of this content, especially those taking prescription or over-the-counter medications, "
        "should consult their physicians before beginning any nutrition, supplement or lifestyle program.",
    ),
    (
        "L6",
        "This rapid response is vital for those with severe depression or suicidal ideation, where time is "
        "of the essence.",
    ),
    (
        "L10",
        "In honor of National Suicide Prevention Month, the purpose of this article is to promote "
        "awareness, education, and support for all dealing with various mental health issues.",
    ),
    ("L13", "Suicide rates soaring: what the data says"),  # L13 is for subject/preheader only (field=article)
    ("L4", "We have begun a new chapter in suicide prevention."),  # "gun" is a whole word only
    ("L4", "Lethal means safety: lock up guns and medications to help prevent suicide."),
    ("L7", "In the trial, patients showed no signs of dependence."),  # no death or suicide in view
    ("L8", "Deaths caused by suicide rose last year."),
    ("L3", "The Surgeon General issued a national strategy on suicide."),
    ("L8", "Her loss led the family to suicide prevention work."),
    ("L2", "The campaign made successful attempts to reduce stigma around suicide."),
    ("K6", "Is ketamine safe? It carries boxed warnings for sedation and dissociation."),
    ("K7", "If you stop your medication suddenly, withdrawal can be dangerous; talk to your doctor first."),
    ("K1", "Esketamine, a close relative of ketamine, is FDA-approved for depression."),
]


@pytest.mark.parametrize("rule,text", NOT_RULE, ids=[f"not-{r}-{i}" for i, (r, _) in enumerate(NOT_RULE)])
def test_not_rule(rule, text):
    assert rule not in rules_of(text)


def test_rules_table_matches_reference():
    assert list(RULES) == [f"L{i}" for i in range(1, 14)] + [f"K{i}" for i in range(1, 8)] + ["N1"]
    assert {rule: level for rule, (level, _title, _advice) in RULES.items()} == EXPECTED_LEVELS
    assert all(title and advice for _level, title, advice in RULES.values())


def test_l13_only_for_subject_and_preheader():
    text = "Suicide rates soaring: what the data says"
    assert "L13" in rules_of(text, "subject") and "L13" in rules_of(text, "preheader")
    assert "L13" not in rules_of(text, "note") and "L3" in rules_of(text, "note")


def test_near_counts_words_and_whole_words():
    assert near("he used a gun and died", r"\bguns?\b", r"\bdied\b")
    far = "gun " + "word " * 12 + "died"
    assert not near(far, r"\bguns?\b", r"\bdied\b")
    assert near("gun " + "word " * 7 + "died", r"\bguns?\b", r"\bdied\b", words=8)
    assert not near("it has begun, she died", r"\bguns?\b", r"\bdied\b")


def test_curly_apostrophes_and_markdown_are_normalised():
    assert "L1" in rules_of("He **committed** suicide.")
    assert rules_of("Ketamine isn\u2019t a cure.") == rules_of("Ketamine isn't a cure.") == set()
    hit = lint_text("They said ketamine\u2019s a miracle.", field="article")[0]
    assert "ketamine\u2019s a miracle" in hit.excerpt  # excerpt quotes the original text


def test_order_is_rule_id_then_position():
    text = (
        "His suicide was brave. He committed suicide with 40 pills. "
        "Ketamine is a miracle, a cure. He committed suicide."
    )
    hits = lint_text(text, field="article")
    order = [h.rule for h in hits]
    assert order == sorted(order, key=list(RULES).index)
    assert order[:2] == ["L1", "L1"] and "L10" in order and order[-1] == "K3"
    firsts = [h.excerpt for h in hits if h.rule == "L1"]
    assert "40 pills" in firsts[0] and "cure" in firsts[1]  # earlier one first


def test_deterministic():
    text = ARTICLE.read_text() if ARTICLE.exists() else " ".join(p[3] for p in POSITIVE)
    first = lint_text(text, field="article")
    assert first == lint_text(text, field="article")
    assert all(isinstance(h, LintHit) for h in first)


@pytest.mark.skipif(not ARTICLE.exists(), reason="seed article not present")
def test_article_paragraphs_raise_only_expected_warnings():
    blocks = [b for b in re.split(r"\n\s*\n", ARTICLE.read_text()) if b.strip()]
    hits = [h for b in blocks for h in lint_text(b, field="article")]
    assert {h.rule for h in hits} == {"K3", "L12"}
    assert all(h.level == "warning" for h in hits)
    assert sorted(h.message.split('"')[1].lower() for h in hits if h.rule == "K3") == [
        "breakthrough",
        "exponential",
        "game-changer",
        "revolution",
    ]


# -- N1: numbers that are not in the verified crisis list (issue 10 #5) --------------------------------
from campaign.series.numbers import phone_numbers, unverified_numbers, verified_digits  # noqa: E402

VERIFIED = verified_digits(
    ["988", "741741", "call 116 123 (free, 24/7)", "call 1-800-668-6868", "999 (112 also works)"]
)


@pytest.mark.parametrize(
    "text",
    [
        "call 1-800-555-0199 any time",
        "Text 555 0100 if you need us",
        "Our helpline: (555) 123-4567",
        "call +44 20 7946 0958",
        "dial 311 now",
        "or ring 1-800-273-8255",  # the old US Lifeline number: not in our verified list
    ],
)
def test_n1_flags_unverified_numbers(text):
    hits = unverified_numbers(text, VERIFIED)
    assert hits and all(h.rule == "N1" and h.level == "error" for h in hits), hits
    assert "crisis_resources.yaml" in hits[0].advice


@pytest.mark.parametrize(
    "text",
    [
        "Call or text 988 any time.",
        "Text HOME to 741741.",
        "call 116 123, free",
        "Kids Help Phone: 1-800-668-6868 or 800-668-6868",
        "In an emergency call 999 (112 also works).",
        "Close to 800,000 people die each year; ages 15-29 are most affected.",
        "Day 5 of 30, sent 2027-09-05 at 09:00, 36% of readers, since the 1960s, 24/7.",
        "Ketamine was introduced in 1962.",
    ],
)
def test_n1_leaves_verified_numbers_and_ordinary_figures_alone(text):
    assert unverified_numbers(text, VERIFIED) == []


def test_n1_in_template_markup_ignores_css_but_not_tel_links():
    markup = '<p style="line-height: 1.35; font-size: 17px">x</p><a href="tel:5551234567">us</a> call 988'
    hits = unverified_numbers(markup, VERIFIED, markup=True)
    assert [h.message.split(": ", 1)[1] for h in hits] == ["'tel:5551234567'"]


def test_phone_numbers_finds_spans():
    text = "call 1-800-555-0199 or text 741741"
    assert [(text[s:e], d) for s, e, d in phone_numbers(text)] == [
        ("1-800-555-0199", "18005550199"),
        ("741741", "741741"),
    ]


def test_every_rule_of_the_reference_has_exactly_one_registered_check():
    """The rule table maps onto shared/reference/safe_messaging.md: every L and K rule it lists has one check
    (N1, the verified-numbers rule, is series/numbers.py's), and no check runs for a rule it does not list."""
    reference = (pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "safe_messaging.md").read_text()
    listed = set(re.findall(r"^\|\s*([LK]\d+)\s*\|", reference, re.M))
    assert listed == {f"L{i}" for i in range(1, 14)} | {f"K{i}" for i in range(1, 8)}
    assert set(CHECKS) == listed and set(RULES) == listed | {"N1"}
