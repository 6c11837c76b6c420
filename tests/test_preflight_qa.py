"""Email QA of `campaign check`: the MIME-level checks on built messages, and every day × variant clean."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from campaign.preflight.email_qa import built_messages, mime_problems, run_email_qa


def eml(*, qp_line_length: int, feedback: bool = True) -> bytes:
    message = EmailMessage(policy=SMTP.clone(max_line_length=qp_line_length))
    message["From"] = "a@mind-matters-news.net"
    message["To"] = "b@mind-matters-news.net"
    message["Subject"] = "s"
    message["Date"] = "Wed, 01 Sep 2027 13:00:00 +0000"
    message["Message-ID"] = "<1@mind-matters-news.net>"
    message["List-Unsubscribe"] = "<https://news.mind-matters-news.net/u/t>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if feedback:
        message["Feedback-ID"] = "2027-09-01:september:newsletter:campaign"
    message.set_content("é " + "word " * 400, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative("<p>é " + "word " * 400 + "</p>", subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def test_long_quoted_printable_lines_and_a_missing_feedback_id_are_found():
    problems = mime_problems(eml(qp_line_length=998, feedback=False), "day 1")
    fields = [p.field for p in problems]
    assert fields == ["Feedback-ID", "text/plain part", "text/html part"], problems
    assert "MIME_QP_LONG_LINE" in str(problems[1]) and "longer than 76" in str(problems[1])


def test_a_well_built_message_passes():
    assert mime_problems(eml(qp_line_length=76), "day 1") == []


def test_lines_over_998_are_found_whatever_the_encoding():
    data = eml(qp_line_length=76).replace(b"\r\n\r\n", b"\r\nX-Long: " + b"a" * 1200 + b"\r\n\r\n", 1)
    assert [p.field for p in mime_problems(data, "day 1")] == ["line length"]


def test_every_built_message_of_two_days_is_clean(campaign_dir):
    project = campaign_dir.project()
    days = project.schedule.dates[:2]
    messages = list(built_messages(project, days))
    assert len(messages) == 2 * (len(project.crisis.countries) + 1)
    report = run_email_qa(project, days)
    assert report.errors == [], "\n".join(str(p) for p in report.errors)
    assert f"{len(messages)} built messages" in report.passed[0]
