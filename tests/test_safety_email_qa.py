"""Structural email QA (issue 10 #2/#3): doctype and lang, absolute links, alt text, a preheader hidden
without colour tricks and followed by filler, a dark theme for every light band, contrast ≥ 4.5:1 in light
and dark mode (links included), HTML under 100 KB."""

from __future__ import annotations

from datetime import date

import pytest

from campaign.series.qa import email_qa

FILLER = "&zwnj;&nbsp;" * 40
DARK = (
    "<style>@media (prefers-color-scheme: dark) { .band, body { background-color: #111827 !important; } "
    ".band a { color: #5eead4 !important; } .band p { color: #e5e7eb !important; } }</style>"
)


def page(body: str, *, head: str = DARK, doctype: str = "<!DOCTYPE html>", lang: str = ' lang="en"') -> str:
    preheader = f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">Preview{FILLER}</div>'
    return f"{doctype}<html{lang}><head>{head}</head><body>{preheader}{body}</body></html>"


GOOD = page(
    '<div class="band" style="background-color:#f4f1ec"><p style="color:#1f2933">Hello '
    '<a href="https://news.example.org/archive/2027-09-10" style="color:#0f766e">View in your browser</a> '
    '<a href="tel:988">988</a> <a href="sms:741741?&amp;body=HOME">text</a> '
    '<a href="mailto:support@example.org">mail</a> <a href="__UNSUBSCRIBE_URL__">Unsubscribe</a></p>'
    '<img src="https://news.example.org/a.png" alt="A logo"></div>'
)


def fields(html: str) -> list[str]:
    return [p.field for p in email_qa(html)]


def test_a_good_page_passes():
    assert email_qa(GOOD) == []


@pytest.mark.parametrize("variant", ["US", "GB", "AU", "INTL"])
def test_every_rendered_issue_passes(campaign_dir, variant):
    project = campaign_dir.project()
    for day in (date(2027, 9, 1), date(2027, 9, 10)):
        issue = project.render(day, variant)
        html, _text = issue.merge(unsubscribe_url="https://news.example.org/unsubscribe/TOKEN", name="Ann")
        assert html.startswith("<!DOCTYPE html>")
        assert email_qa(html) == [], [str(p) for p in email_qa(html)]
        assert email_qa(issue.html) == []  # the unmerged form (placeholder link) passes too


def test_the_web_archive_page_passes(campaign_dir):
    issue = campaign_dir.project().render(date(2027, 9, 10), web=True)
    assert email_qa(issue.html) == []


def test_doctype_and_lang_are_required():
    assert "doctype" in fields(page("<p>x</p>", doctype=""))
    assert "lang" in fields(page("<p>x</p>", lang=""))


@pytest.mark.parametrize(
    "href",
    [
        "http://news.example.org/",
        "/archive/2027-09-10",
        "archive.html",
        "javascript:alert(1)",
        "https://",
        "https://news.example.org:99999/",
        "https://exa mple.org/",
        "tel:1-800-CALL-NOW",
        "sms:",
        "mailto:nobody",
        "ftp://example.org/file",
        "//news.example.org/x",
    ],
)
def test_every_link_must_be_absolute_and_well_formed(href):
    html = GOOD.replace('href="tel:988"', f'href="{href}"')
    assert "link" in fields(html), href


def test_images_need_alt():
    assert "image" in fields(GOOD.replace(' alt="A logo"', ""))
    assert "image" not in fields(GOOD.replace(' alt="A logo"', ' alt=""'))  # decorative images may be empty


@pytest.mark.parametrize(
    "style,words",
    [
        ("display:none;font-size:1px;color:#ffffff;max-height:0;overflow:hidden;mso-hide:all;", "color, font-size"),
        ("display:none;opacity:0;max-height:0;overflow:hidden;mso-hide:all;", "opacity"),
        ("display:none;max-height:0;overflow:hidden;", "mso-hide"),
    ],
)
def test_the_preheader_is_hidden_without_tricks(style, words):
    html = GOOD.replace("display:none;max-height:0;overflow:hidden;mso-hide:all;", style)
    found = [str(p) for p in email_qa(html) if p.field == "preheader"]
    assert found and words in " ".join(found)


def test_the_preheader_needs_filler():
    found = [str(p) for p in email_qa(GOOD.replace(FILLER, "&zwnj;&nbsp;" * 3)) if p.field == "preheader"]
    assert found and "filler" in found[0]


def test_a_missing_preheader_is_reported():
    html = GOOD.replace(
        f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">Preview{FILLER}</div>', ""
    )
    assert "preheader" in fields(html)


def test_a_dark_theme_is_required():
    assert "dark mode" in fields(page('<p style="color:#1f2933">x</p>', head=""))


def test_a_light_band_without_a_dark_background_is_reported():
    html = GOOD.replace('<div class="band"', '<div class="other"')
    found = [str(p) for p in email_qa(html)]
    assert any("keeps its light background #f4f1ec in dark mode" in p for p in found), found


def test_link_contrast_is_checked_in_light_and_dark():
    light = GOOD.replace("color:#0f766e", "color:#9fd3c7")  # pale teal on beige
    assert "contrast (light)" in fields(light)
    dark = GOOD.replace(".band a { color: #5eead4 !important; }", ".band a { color: #1f2937 !important; }")
    assert "contrast (dark)" in fields(dark)


def test_large_text_needs_3_to_1_only():
    html = page('<p style="color:#767676;font-size:26px">Big heading</p>')  # 4.5:1 on white, fine anyway
    assert "contrast (light)" not in fields(html)
    html = page('<p style="color:#8f8f8f;font-size:26px">Big heading</p>')  # 3.3:1: enough for large text
    assert "contrast (light)" not in fields(html)
    html = page('<p style="color:#8f8f8f;font-size:16px">Small text</p>')
    assert "contrast (light)" in fields(html)


def test_html_over_100_kb_is_reported():
    assert "size" in fields(GOOD.replace("Hello", "Hello " + "word " * 25_000))


def test_the_welcome_and_confirmation_messages_pass(campaign_dir):
    from types import SimpleNamespace

    from campaign.delivery.confirm_mail import TEMPLATE
    from campaign.delivery.welcome import render_welcome
    from campaign.series.merge import CONFIRM_URL

    project = campaign_dir.project()
    days = project.schedule.dates
    earlier = tuple(SimpleNamespace(day=d, number=i + 1, subject=f"Day {i + 1}") for i, d in enumerate(days[:3]))
    welcome = render_welcome(project, "US", earlier, days[3])
    assert email_qa(welcome.html) == []
    confirm = project.renderer.render_message(
        TEMPLATE,
        day=days[0],
        variant="GB",
        subject="Confirm",
        preheader="One click",
        context={"confirm_url": CONFIRM_URL},
    )
    assert email_qa(confirm.html) == []


def test_series_email_qa_covers_every_day_and_variant_and_names_them(campaign_dir):
    from campaign.series.qa import series_email_qa

    project = campaign_dir.project()
    assert series_email_qa(project, merged_url="https://news.example.org/unsubscribe/T") == []
    (campaign_dir.root / "templates" / "partials" / "footer.mjml.j2").write_text(
        (campaign_dir.root / "templates" / "partials" / "footer.mjml.j2")
        .read_text(encoding="utf-8")
        .replace(
            "<p>{{ campaign.postal_address }}</p>", '<p>{{ campaign.postal_address }} <a href="/about">About</a></p>'
        ),
        encoding="utf-8",
    )
    found = series_email_qa(campaign_dir.project())
    assert found and {p.file for p in found} >= {
        "issue 2027-09-01 (US)",
        "issue 2027-09-30 (US)",
        "issue 2027-09-01 (GB)",
    }
    assert all(p.field == "link" and "/about" in p.message for p in found)
