"""Rendering: every required element in both parts, safety structural, CSS inlined with @media kept."""

from __future__ import annotations

import re

import pytest

from campaign.errors import RenderError
from campaign.series.safety import HOPE_PHRASES, visible_text
from tests.conftest import people

DISCLAIMER_START = "This content is for informational and educational purposes only."


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from tests.conftest import CampaignDir, base_env, copy_campaign

    root = copy_campaign(tmp_path_factory.mktemp("render") / "campaign")
    return CampaignDir(root, base_env(root)).project()


def both_parts(issue, name="Ann"):
    html, text = issue.merge(unsubscribe_url="https://news.example.org/unsubscribe/TOKEN", name=name)
    return html, visible_text(html), text


@pytest.mark.parametrize("number", range(1, 31))
def test_every_day_has_every_required_element_in_html_and_text(project, number):
    day = project.schedule.dates[number - 1]
    entry = project.schedule.days[day]
    html, seen, text = both_parts(project.render(day))
    for part in (seen, text):
        assert entry.subject in part
        assert f"Day {number} of 30" in part
        assert "988" in part and "911" in part and "findahelpline.com" in part  # R1, R2, fallback
        assert any(p in part.lower() for p in HOPE_PHRASES)  # R3
        assert " ".join(project.disclaimer.split()) in " ".join(part.split())  # R4, in full
        assert project.schedule.campaign.postal_address in part  # CAN-SPAM
        assert "Hi Ann," in part
        if entry.note:
            assert " ".join(entry.note.split()) in " ".join(part.split())
    assert entry.preheader in seen  # hidden preview text
    assert f'href="https://news.example.org/archive/{day}"' in html  # view in browser
    assert text.count(f"https://news.example.org/archive/{day}") == 1
    assert 'href="https://news.example.org/unsubscribe/TOKEN"' in html  # visible unsubscribe
    assert "Unsubscribe with one click: https://news.example.org/unsubscribe/TOKEN" in text
    for block in project.plan.part_for(day).blocks:  # its article part
        for line in block.text.split("\n"):
            assert line in text
    assert len(html.encode()) < 102 * 1024


def test_each_country_gets_its_own_crisis_lines_plus_the_fallback(project):
    day = project.schedule.dates[0]
    expectations = {
        "GB": ["Samaritans", "116 123", "999"],
        "AU": ["Lifeline", "13 11 14", "000"],
        "NZ": ["1737", "111"],
        "IN": ["Tele-MANAS", "14416"],
        "CA": ["9-8-8", "Kids Help Phone"],
    }
    for country, needles in expectations.items():
        _, seen, text = both_parts(project.render(day, project.variant_for(country)))
        for needle in needles + ["findahelpline.com"]:
            assert needle in seen and needle in text, (country, needle)
        assert "988 Suicide & Crisis Lifeline" not in text


def test_a_country_without_a_verified_row_gets_the_international_block_only(project):
    variant = project.variant_for("DE")
    assert variant == "INTL"
    _, seen, text = both_parts(project.render(project.schedule.dates[0], variant))
    for part in (seen, text):
        assert "findahelpline.com" in part and "call your local emergency number" in part
        assert "988" not in part and "911" not in part


def test_no_country_means_the_default_country_plus_fallback(project):
    assert project.variant_for(None) == "US"


def test_css_is_inlined_and_media_rules_survive_with_important(project):
    html = project.render(project.schedule.dates[0]).html
    assert "@media only screen and (min-width:480px)" in html  # MJML's responsive columns
    dark = re.search(r"@media \(prefers-color-scheme: dark\)\s*{(.*?)}\s*}", html, re.DOTALL)
    assert dark and "!important" in dark.group(1)  # premailer kept !important
    assert re.search(r'class="c-crisis"[^>]*style="[^"]*background-color:\s*#e6f4f1', html)  # inlined
    assert "fonts.googleapis.com" not in html and "@import" not in html and "<link" not in html  # no network
    assert '<meta name="color-scheme" content="light dark"' in html


def test_crisis_numbers_are_tappable_and_survive_inlining(project):
    html = project.render(project.schedule.dates[0]).html
    assert 'href="tel:988"' in html and 'href="tel:911"' in html
    assert 'href="sms:741741?&amp;body=HOME"' in html
    gb = project.render(project.schedule.dates[0], "GB").html
    assert 'href="tel:116123"' in gb and 'href="sms:85258?&amp;body=SHOUT"' in gb
    assert 'href="tel:999"' in gb  # "999 (112 also works)": the first number, not 999112
    assert 'href="tel:112"' in project.render(project.schedule.dates[0], "IE").html


def test_text_part_comes_from_markdown_not_html(project):
    day = project.schedule.dates[1]  # day 2 is the bullet list
    text = project.render(day).text
    assert "- Ketamine, initially introduced as an anesthetic in the 1960s" in text
    assert "<" not in text.replace("<https", "")


def test_merge_escapes_the_name_in_html_only(project):
    issue = project.render(project.schedule.dates[0])
    html, text = issue.merge(unsubscribe_url="https://x.example/unsubscribe/T", name='Bo <b>& "Co"')
    assert "Hi Bo &lt;b&gt;&amp; &quot;Co&quot;," in html and 'Hi Bo <b>& "Co",' in text
    html, text = issue.merge(unsubscribe_url="https://x.example/unsubscribe/T", name=None)
    assert "Hi there," in text and "__NAME" not in html + text and "__UNSUBSCRIBE_URL__" not in html + text


def test_rendering_is_deterministic(project, tmp_path_factory):
    from tests.conftest import CampaignDir, base_env, copy_campaign

    root = copy_campaign(tmp_path_factory.mktemp("again") / "campaign")
    other = CampaignDir(root, base_env(root)).project()
    day = project.schedule.dates[4]
    assert other.render(day).html == project.render(day).html
    assert other.render(day).text == project.render(day).text


def test_the_web_version_has_no_personal_fields_and_a_signup_link(project):
    web = project.render(project.schedule.dates[0], web=True)
    assert "__UNSUBSCRIBE_URL__" not in web.html and "__NAME" not in web.html + web.text
    assert 'href="https://news.example.org/subscribe"' in web.html
    assert "988" in web.text and DISCLAIMER_START in web.text


# -- the safety elements are structural: a template edit cannot drop them ------------------------------


@pytest.mark.parametrize(
    "partial,what",
    [
        ("partials/crisis.mjml.j2", "crisis block"),
        ("partials/crisis.txt.j2", "crisis block"),
        ("partials/disclaimer.mjml.j2", "medical disclaimer"),
        ("partials/disclaimer.txt.j2", "medical disclaimer"),
        ("partials/footer.txt.j2", "unsubscribe"),
    ],
)
def test_a_template_without_a_safety_partial_fails_build_and_send(campaign_dir, partial, what):
    (campaign_dir.root / "templates" / partial).write_text("{# emptied by an edit #}\n", encoding="utf-8")
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(2))), check=True)
    for args in (["build"], ["send", "1", "--yes"], ["validate"]):
        result = campaign_dir.run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert what in result.stderr and "Traceback" not in result.stderr
    assert not (campaign_dir.outbox / "2027-09-01").exists()  # nothing was sent
    with _closing(campaign_dir.store()) as store:
        assert store.delivery_counts() == {}


def test_an_issue_template_that_drops_the_body_end_is_refused(campaign_dir):
    path = campaign_dir.root / "templates" / "base.mjml.j2"
    path.write_text(path.read_text().replace("</mj-body>", ""), encoding="utf-8")
    result = campaign_dir.run("build")
    assert result.returncode == 2 and "</mj-body>" in result.stderr


def test_an_undefined_template_variable_is_an_error_with_its_line(campaign_dir):
    path = campaign_dir.root / "templates" / "issue.mjml.j2"
    path.write_text(path.read_text().replace("{{ issue.subject }}", "{{ issue.subjet }}"), encoding="utf-8")
    result = campaign_dir.run("build")
    assert result.returncode == 2
    assert "templates/issue.mjml.j2" in result.stderr and "subjet" in result.stderr


def test_renderer_raises_render_error_when_the_crisis_block_is_missing(campaign_dir):
    (campaign_dir.root / "templates" / "partials" / "crisis.mjml.j2").write_text("", encoding="utf-8")
    project = campaign_dir.project()
    with pytest.raises(RenderError) as info:
        project.render(project.schedule.dates[0])
    assert any("crisis block" in p.message for p in info.value.problems)


class _closing:
    def __init__(self, store):
        self.store = store

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        self.store.close()


# -- the sandbox (issue 8 #6) and the HTML shell (issue 10 #3) -------------------------------------------
def test_the_email_environment_is_an_immutable_sandbox(project):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    assert isinstance(project.renderer.env, ImmutableSandboxedEnvironment)
    env = project.renderer.env
    with pytest.raises(Exception) as info:
        env.from_string("{{ cycler.__init__.__globals__ }}").render()
    assert "unsafe" in str(info.value)
    with pytest.raises(Exception):
        env.from_string("{% set x = [] %}{{ x.append(1) }}").render()  # immutable


def test_the_loader_refuses_symlinks_and_paths_outside(tmp_path):
    from campaign.series.templating import SafeLoader

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "ok.j2").write_text("fine")
    (tmp_path / "secret").write_text("root:x:0:0")
    (tmp_path / "t" / "link.j2").symlink_to(tmp_path / "secret")
    (tmp_path / "t" / "dir").symlink_to(tmp_path)
    loader = SafeLoader(tmp_path / "t")
    assert loader.get_source(None, "ok.j2")[0] == "fine"
    for name in ("link.j2", "dir/secret", "../secret", "/etc/passwd", "a/../../secret", "ok.j2\x00"):
        with pytest.raises(RenderError) as info:
            loader.get_source(None, name)
        assert "root:x" not in str(info.value)


def test_rendered_html_starts_with_a_doctype_and_hides_the_preheader_without_tricks(project):
    html = project.render(project.schedule.dates[0]).html
    assert html.startswith('<!DOCTYPE html>\n<html lang="en"')
    start = html.index('<div class="c-preheader"')
    tag = html[start : html.index(">", start)]
    assert "display:none" in tag and "mso-hide:all" in tag and "max-height:0" in tag
    assert "color" not in tag and "font-size" not in tag and "opacity" not in tag
    preheader = project.schedule.days[project.schedule.dates[0]].preheader
    after = html[html.index(preheader) + len(preheader) :]
    assert after.startswith("\u200c\u00a0" * 30)  # filler, so the inbox preview stops here


def test_the_dark_theme_repaints_the_bands(project):
    html = project.render(project.schedule.dates[0]).html
    dark = html[html.index("prefers-color-scheme: dark") :]
    assert ".c-band" in dark and ".c-page" in dark and "body" in dark
    assert html.count('class="c-band"') >= 2  # header strip and footer


def test_an_mj_raw_that_swallows_the_crisis_section_is_refused_naming_the_uncompiled_mjml(campaign_dir):
    """mjml-python leaves everything after an <mj-raw> that opens an element (closed in a later <mj-raw>) as raw
    <mj-section>/<mj-text> tags: the crisis block would reach readers as unrendered MJML."""
    base = campaign_dir.root / "templates" / "base.mjml.j2"
    text = base.read_text(encoding="utf-8")
    base.write_text(
        text.replace(
            "{% block body %}{% endblock %}\n",
            '{% block body %}{% endblock %}\n<mj-raw><div style="display:none"></mj-raw>\n',
        ),
        encoding="utf-8",
    )
    footer = campaign_dir.root / "templates" / "partials" / "footer.mjml.j2"
    footer.write_text(footer.read_text(encoding="utf-8") + "<mj-raw></div></mj-raw>\n", encoding="utf-8")
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "templates/issue.mjml.j2" in result.stderr and "MJML did not compile" in result.stderr
    assert "<mj-section" in result.stderr or "<mj-" in result.stderr
