"""The CLI's contract: help with an example on every command, exit codes, no tracebacks, public API."""

from __future__ import annotations

import subprocess

import campaign
from campaign.cli import command
from campaign.cli.app import unwrap
from tests.conftest import CAMPAIGN_BIN


def all_commands():
    group = command()
    stack = [([], group)]
    while stack:
        path, cmd = stack.pop()
        for name, sub in getattr(cmd, "commands", {}).items():
            if getattr(sub, "commands", None):
                stack.append((path + [name], sub))
            else:
                yield " ".join(path + [name]), sub


def test_every_command_has_help_with_an_example():
    names = []
    for name, cmd in all_commands():
        names.append(name)
        assert cmd.help and "Example: campaign " in cmd.help, f"`campaign {name}` lacks an example"
    for expected in (
        "validate",
        "plan",
        "build",
        "preview",
        "send",
        "status",
        "subscribers import",
        "subscribers list",
        "subscribers unsubscribe",
    ):
        assert expected in names


def test_every_option_and_argument_has_help_and_a_real_label():
    for name, cmd in all_commands():
        for param in cmd.params:
            assert getattr(param, "help", None), f"`campaign {name}` {param.name} has no help"
            label = param.metavar
            assert label is not None and "<" not in label and "[" not in label, (name, param.name, label)


def test_help_reads_as_sentences_not_as_hard_wrapped_lines():
    for args in (["--help"], ["send", "--help"], ["subscribers", "import", "--help"]):
        for columns in ("60", "400"):
            shown = subprocess.run(
                [str(CAMPAIGN_BIN), *args], capture_output=True, text=True, env={"COLUMNS": columns}, check=True
            ).stdout
            assert "<bool>" not in shown and "<list" not in shown
            if columns == "400":  # a wide terminal: every paragraph of a docstring is one line
                cmd = dict(all_commands()).get(" ".join(args[:-1])) if args[:-1] else command()
                for paragraph in unwrap(cmd.help).split("\n\n"):
                    assert f"  {paragraph}\n" in shown, paragraph


def test_public_api_lists_what_it_exports():
    for name in campaign.__all__:
        assert hasattr(campaign, name), name
    assert {"load_project", "Sender", "Store", "parse_schedule", "make_plan"} <= set(campaign.__all__)


def test_invalid_input_exits_2_with_one_line_per_problem_and_no_traceback(campaign_dir):
    campaign_dir.edit_schedule("  default_country: US", "  default_country: US\n  colour: blue")
    campaign_dir.edit_schedule("  2027-09-03:\n", "  2027-09-02:\n")
    campaign_dir.edit_schedule(
        'subject: "A month when communities come together"',
        "subject: |\n      A month when communities\n      come together",
    )
    result = campaign_dir.run("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert "schedule.yaml:" in lines[0] and "unknown key 'colour'" in lines[0]
    assert "duplicate key 2027-09-02" in lines[1]
    assert "subject must be one line" in lines[2]
    for line in lines:  # file:line: field: what — fix
        assert line.startswith("error: schedule.yaml:") and " — " in line


def test_bad_day_argument_is_invalid_input(campaign_dir):
    for bad in ("31", "2027-10-01", "tomorrow"):
        result = campaign_dir.run("send", bad, "--dry-run")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_validate_plan_build_and_preview_succeed(campaign_dir):
    assert "ok: 30 days" in campaign_dir.run("validate", check=True).stdout
    plan = campaign_dir.run("plan", check=True).stdout
    assert "spread" in plan and "pinned: Efficacy for Depression and Suicidality" in plan
    campaign_dir.run("build", check=True)
    build = campaign_dir.root / "build"
    days = sorted(p.name for p in build.iterdir() if p.is_dir())
    assert len(days) == 30 and days[0] == "2027-09-01"
    index = (build / "index.html").read_text()
    for day in days:
        assert f'href="{day}/email.html"' in index
        html = (build / day / "email.html").read_text()
        text = (build / day / "email.txt").read_text()
        for part in (html, text):
            assert "988" in part and "findahelpline.com" in part
            assert (
                "should consult their physicians before beginning any nutrition, supplement or lifestyle program"
                in part
            )
        assert "@media" in html and len(html.encode()) < 102 * 1024
    preview = campaign_dir.run("preview", "10", "--country", "GB", check=True).stdout.strip()
    assert preview.endswith("2027-09-10/email.html") and "Samaritans" in (campaign_dir.root / preview).read_text()


def test_build_gives_back_every_article_paragraph_exactly_once_in_order(campaign_dir):
    """Acceptance: the article parts of the 30 issues give back every paragraph and bullet, once, in order."""
    campaign_dir.run("build", check=True)
    project = campaign_dir.project()
    texts = [(campaign_dir.root / "build" / str(day) / "email.txt").read_text() for day in project.schedule.dates]
    # a part that starts mid-section repeats its section heading as a "… (continued)" label: not content
    texts = ["\n".join(line for line in t.splitlines() if not line.endswith(" (continued)")) for t in texts]
    position = 0
    for block in project.article.blocks:
        for line in block.text.split("\n"):
            holders = [i for i, t in enumerate(texts) if line in t]
            assert len(holders) == 1, (line[:50], holders)
            assert holders[0] >= position, f"out of order: {line[:50]}"
            position = holders[0]


def test_check_renders_every_variant_and_names_a_missing_credential(campaign_dir):
    result = campaign_dir.run("check", check=True)
    assert "30 days × 8 crisis variants rendered and verified" in result.stdout
    assert "provider outbox" in result.stdout
    result = campaign_dir.run("check", env={"CAMPAIGN_PROVIDER": "sendgrid"})
    assert result.returncode == 2 and "SENDGRID_API_KEY" in result.stderr and "Traceback" not in result.stderr
    result = campaign_dir.run(
        "check",
        env={
            "CAMPAIGN_PROVIDER": "sendgrid",
            "SENDGRID_API_KEY": "SG.x",
            "CAMPAIGN_PUBLIC_URL": "http://insecure.example",
        },
    )
    assert result.returncode == 2 and "CAMPAIGN_PUBLIC_URL" in result.stderr and "https" in result.stderr


def test_validate_also_finds_what_send_would_refuse_in_the_provider_settings(campaign_dir):
    """A token pasted with a line break and a short signing key: `validate` says so, before any send."""
    result = campaign_dir.run(
        "validate",
        env={
            "CAMPAIGN_PROVIDER": "postmark",
            "POSTMARK_SERVER_TOKEN": "abc\ndef",
            "CAMPAIGN_SECRET_KEY": "short",
        },
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "POSTMARK_SERVER_TOKEN" in result.stderr and "line break" in result.stderr
    assert "CAMPAIGN_SECRET_KEY" in result.stderr and "32" in result.stderr
