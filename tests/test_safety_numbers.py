"""Crisis numbers only from the verified list (issue 10 #5): any phone or text number in a subject,
preheader, note, the article or a template's text that content/crisis_resources.yaml lacks is an error."""

from __future__ import annotations


def add_note(campaign_dir, note: str) -> int:
    """Add a note to 2027-09-03; return its line in schedule.yaml."""
    campaign_dir.edit_schedule(
        '    subject: "A month when communities come together"\n',
        f'    subject: "A month when communities come together"\n    note: "{note}"\n',
    )
    lines = (campaign_dir.root / "schedule.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.startswith("    note: ") and note in line)


def test_a_note_with_an_invented_number_fails_validate_with_the_line_and_the_rule(campaign_dir):
    line = add_note(campaign_dir, "call 1-800-555-0199 any time")
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = next(e for e in result.stderr.splitlines() if "N1" in e)
    assert error.startswith(f"error: schedule.yaml:{line}: days.2027-09-03.note: N1 (error)")
    assert "1-800-555-0199" in error and "crisis_resources.yaml" in error
    assert "acknowledgements:" not in error and "cannot be acknowledged" in error


def test_a_note_with_verified_numbers_passes(campaign_dir):
    add_note(campaign_dir, "You can call or text 988, or text HOME to 741741, any time.")
    result = campaign_dir.run("validate")
    assert result.returncode == 0, result.stderr


def test_n1_cannot_be_acknowledged(campaign_dir):
    add_note(campaign_dir, "call 1-800-555-0199 any time")
    path = campaign_dir.root / "schedule.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + '  - rule: N1\n    day: 2027-09-03\n    reason: "we checked"\n',
        encoding="utf-8",
    )
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "acknowledgements[1].rule" in result.stderr


def test_a_number_in_template_text_or_a_tel_link_fails_validate(campaign_dir):
    path = campaign_dir.root / "templates" / "partials" / "footer.mjml.j2"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "<p>{{ campaign.postal_address }}</p>",
            '<p>{{ campaign.postal_address }} · Questions? Call 555-867-5309 or <a href="tel:5551230000">us</a></p>',
        ),
        encoding="utf-8",
    )
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [e for e in result.stderr.splitlines() if e.startswith("error: templates/partials/footer.mjml.j2:")]
    assert any("555-867-5309" in e for e in errors) and any("tel:5551230000" in e for e in errors), result.stderr


def test_the_default_templates_and_schedule_carry_only_verified_numbers(campaign_dir):
    project = campaign_dir.project()
    project.check_templates()
    assert not [f for f in project.lint() if f.hit.rule == "N1"]
