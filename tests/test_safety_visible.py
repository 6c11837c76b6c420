"""Safety is visible, not just present (issue 8 #7): the crisis block and the disclaimer, and every ancestor,
carry no style that hides or shrinks them — checked on the final, inlined HTML by a real HTML parser."""

from __future__ import annotations

from datetime import date

import pytest

from campaign.errors import RenderError
from campaign.series.safety import visibility_problems
from tests.conftest import CampaignDir

CRISIS_T = "templates/partials/crisis.mjml.j2"
DISCL_T = "templates/partials/disclaimer.mjml.j2"
CRISIS_DIV = '<div class="c-crisis" role="note" aria-label="Crisis support">'
DISCL_TEXT = '<mj-text css-class="c-muted" font-size="13px" color="#52606d">'


def edit(campaign_dir: CampaignDir, rel: str, old: str, new: str) -> None:
    path = campaign_dir.root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def render_error(campaign_dir: CampaignDir) -> str:
    project = campaign_dir.project()
    with pytest.raises(RenderError) as info:
        project.render(date(2027, 9, 10))
    return str(info.value)


def test_the_default_templates_pass(campaign_dir):
    project = campaign_dir.project()
    for variant in ("US", "GB", "INTL"):
        project.render(date(2027, 9, 10), variant)  # raises on any problem


@pytest.mark.parametrize(
    "rel,old,new,words",
    [
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="display:none" '), "display:none"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="display: NONE" '), "display:none"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="visibility:hidden" '), "visibility:hidden"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="opacity:0.1" '), "opacity"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="height:0;overflow:hidden" '), "height:0"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="mso-hide:all" '), "mso-hide:all"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="font-size:11px" '), "font-size 11px"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="font-size:0.5em" '), "font-size"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="color:#e6f4f1" '), "contrast 1.0:1"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="color:transparent" '), "contrast"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div aria-hidden="true" '), "aria-hidden"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="text-indent:-9999px" '), "text-indent"),
        (CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="transform:scale(0)" '), "transform"),
        (DISCL_T, DISCL_TEXT, DISCL_TEXT.replace('font-size="13px"', 'font-size="1px"'), "font-size 1px"),
        (
            DISCL_T,
            DISCL_TEXT,
            DISCL_TEXT.replace('color="#52606d"', 'color="#ffffff"'),
            "#ffffff on background #ffffff",
        ),
        (DISCL_T, DISCL_TEXT, DISCL_TEXT.replace('color="#52606d"', 'color="#fafafa"'), "contrast"),
        (DISCL_T, "<p><strong>", '<p style="max-height:1px;overflow:hidden"><strong>', "max-height:1px"),
        (DISCL_T, "<p><strong>", '<p style="display:none"><strong>', "display:none"),
    ],
)
def test_a_hiding_style_fails_the_render_naming_it(campaign_dir, rel, old, new, words):
    edit(campaign_dir, rel, old, new)
    message = render_error(campaign_dir)
    assert words in message, message
    assert ("crisis block" if rel == CRISIS_T else "medical disclaimer") in message


def test_an_ancestor_wrapper_hiding_the_crisis_block_is_found(campaign_dir):
    edit(campaign_dir, CRISIS_T, CRISIS_DIV, '<div style="display:none">' + CRISIS_DIV)
    edit(campaign_dir, CRISIS_T, "</div>\n        </mj-text>", "</div></div>\n        </mj-text>")
    message = render_error(campaign_dir)
    assert "crisis block is hidden or unreadable: display:none on <div>" in message


def test_a_visible_copy_next_to_a_hidden_one_is_enough():
    block_text = "You are not alone. Help is available."
    html = (
        "<!DOCTYPE html><html><body>"
        f'<div style="display:none"><p>{block_text} 988 Lifeline</p></div>'
        f'<div style="font-size:16px"><p>{block_text} 988 Lifeline</p></div>'
        "</body></html>"
    )

    class Block:
        @staticmethod
        def required_texts():
            return ["988 Lifeline"]

    assert visibility_problems(html, block=Block(), disclaimer="Help is available", where="x") == []  # type: ignore[arg-type]
    hidden_only = html.replace('<div style="font-size:16px">', '<div style="font-size:16px;display:none">')
    found = visibility_problems(hidden_only, block=Block(), disclaimer="Help is available", where="x")  # type: ignore[arg-type]
    assert found and "display:none" in str(found[0])


def test_the_preheader_may_be_hidden(campaign_dir):
    """The hidden preheader is not a safety block: its display:none must not trip the check."""
    edit(campaign_dir, "schedule.yaml", "Today people around the world share hope and support.", "Help is available.")
    campaign_dir.project().render(date(2027, 9, 10))


@pytest.mark.parametrize("command", [("validate",), ("build", "--out", "out"), ("send", "1", "--yes")])
def test_validate_build_and_send_refuse_a_hidden_crisis_block(campaign_dir, command):
    edit(campaign_dir, CRISIS_T, CRISIS_DIV, CRISIS_DIV.replace("<div ", '<div style="display:none" '))
    if command[0] == "send":
        campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv([{"email": "a@example.org"}])), check=True)
    result = campaign_dir.run(*command)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "crisis block is hidden or unreadable: display:none" in result.stderr
    assert not (campaign_dir.root / "out").exists() or not any((campaign_dir.root / "out").rglob("email.html"))
    assert not campaign_dir.outbox.exists() or not any(campaign_dir.outbox.rglob("*.eml"))


@pytest.mark.parametrize(
    "old,new,words",
    [
        ('font-size="13px" color="#52606d"', 'font-size="1px" color="#52606d"', "font-size 1px"),
        ('font-size="13px" color="#52606d"', 'font-size="13px" color="#ffffff"', "colour #ffffff"),
    ],
)
def test_validate_refuses_an_unreadable_disclaimer(campaign_dir, old, new, words):
    edit(campaign_dir, DISCL_T, old, new)
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "medical disclaimer is hidden or unreadable" in result.stderr and words in result.stderr
