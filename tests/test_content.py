"""content/: the article kept word for word, the disclaimer separate, crisis rows from the reference."""

from __future__ import annotations

import pytest
import yaml

from campaign.series.content import load_article, load_disclaimer
from campaign.series.safety import load_crisis_resources
from tests.conftest import REPO

SEED = REPO.parent / "shared" / "seed" / "article.txt"
REFERENCE = REPO.parent / "shared" / "reference" / "crisis_resources.md"
ARTICLE = load_article(REPO / "content" / "article.md")
DISCLAIMER = load_disclaimer(REPO / "content" / "disclaimer.md")


def seed_lines() -> list[str]:
    """The seed's paragraphs and bullets: no title, captions, photo credits or disclaimer."""
    if not SEED.exists():
        pytest.skip("shared/seed/article.txt is not beside this checkout")
    lines = [line.strip().lstrip("•").strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    title = lines[0]
    captions = {lines[i - 1] for i, line in enumerate(lines) if line.startswith("Photo by ")}
    return [
        line
        for line in lines
        if line != title
        and not line.startswith("Photo by ")
        and line not in captions
        and not line.startswith("This content is for informational")
    ]


def article_lines() -> list[str]:
    out = []
    for block in ARTICLE.blocks:
        out.extend(item[2:] if block.kind == "list" else item for item in block.text.split("\n"))
    return out


def test_every_paragraph_heading_and_bullet_is_kept_word_for_word_in_order():
    assert article_lines() == seed_lines()


def test_typography_is_kept():
    text = (REPO / "content" / "article.md").read_text(encoding="utf-8")
    for fragment in (
        "isn’t just about short-term relief—it's",
        "This “neuroplastic” effect",
        "There’s growing belief",
        "filtros…resultó",
    ):
        assert fragment in text


def test_front_matter_and_headings():
    assert ARTICLE.title.startswith("Ketamine-Assisted Psychotherapy for Depression and PTSD")
    assert ARTICLE.source
    headings = [b.text for b in ARTICLE.headings()]
    assert headings[:2] == [
        "Key Mental Health Statistics",
        "Ketamine-Assisted Psychotherapy: A Revolution in Treating Depression, PTSD, OCD, and Suicidality",
    ]
    for n, name in enumerate(
        [
            "Amplified Therapeutic Windows",
            "Enhances Emotional Learning",
            "Consolidation of Positive Neural Pathways",
            "Potential for Circuitry Reset",
        ],
        1,
    ):
        assert f"{n}. {name}" in headings  # the four benefits are headings, not a list
    statistics = ARTICLE.blocks[[b.text for b in ARTICLE.blocks].index("Key Mental Health Statistics") + 1]
    assert statistics.kind == "list" and statistics.text.count("\n- ") == 4


def test_no_invented_image_urls_and_captions_never_rendered():
    text = (REPO / "content" / "article.md").read_text(encoding="utf-8")
    assert "![" not in text and "unsplash.com" not in text
    assert not any("Unsplash" in b.text for b in ARTICLE.blocks)


def test_the_disclaimer_is_separate_and_complete():
    assert DISCLAIMER.startswith("This content is for informational and educational purposes only.")
    assert DISCLAIMER.endswith("before beginning any nutrition, supplement or lifestyle program.")
    assert not any("informational and educational purposes" in b.text for b in ARTICLE.blocks)


def test_crisis_resources_come_from_the_reference_with_source_and_date():
    resources = load_crisis_resources(REPO / "content" / "crisis_resources.yaml")
    raw = yaml.safe_load((REPO / "content" / "crisis_resources.yaml").read_text(encoding="utf-8"))
    assert set(resources.countries) == {"US", "CA", "GB", "IE", "AU", "NZ", "IN"}
    for country in raw["countries"].values():
        for service in country["services"]:
            assert service["source"] and service["verified_on"]
    if REFERENCE.exists():
        reference = REFERENCE.read_text(encoding="utf-8")
        for country in resources.countries.values():
            for service in country.services:
                assert service.how in reference, service.name  # wording verbatim from the reference
                for number in filter(None, (service.phone, service.sms)):
                    assert number in "".join(ch for ch in reference if ch.isdigit()), number
    us = resources.countries["US"]
    assert us.emergency == "911" and us.services[0].phone == "988"
    assert not any("press 3" in s.how for c in resources.countries.values() for s in c.services)  # ended 2025
