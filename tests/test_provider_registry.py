"""Issue 12 #2: one provider registry, one placeholder merge — every other copy derives from them."""

from __future__ import annotations

import pytest

from campaign.config import PROVIDER_NAMES
from campaign.errors import ConfigurationError
from campaign.providers import PROVIDERS, REGISTRY, accepts_utf8_local, make_provider, provider_class
from campaign.providers.base import Provider
from campaign.series import schedule
from campaign.series.merge import NAME_HTML, NAME_TEXT, UNSUBSCRIBE_URL, merge

CAMPAIGN = {"name": "A series", "from": "News <news@example.org>", "postal_address": "1 Main St"}


def test_the_schedule_accepts_exactly_the_registered_providers():
    assert PROVIDERS == tuple(REGISTRY) == PROVIDER_NAMES
    for name in PROVIDER_NAMES:  # the schedule accepts exactly the registry's names
        assert schedule.CampaignSettings.model_validate({**CAMPAIGN, "provider": name}).provider == name
    with pytest.raises(ValueError, match="unknown provider 'mailchimp' — use one of outbox, smtp"):
        schedule.CampaignSettings.model_validate({**CAMPAIGN, "provider": "mailchimp"})


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_registered_provider_is_a_provider_of_that_name(name):
    cls = provider_class(name)
    assert cls is not None and issubclass(cls, Provider) and cls.name == name


def test_only_the_outbox_and_smtp_take_non_ascii_local_parts():
    assert {name for name in PROVIDERS if accepts_utf8_local(name)} == {"outbox", "smtp"}


def test_an_unknown_provider_names_the_choices(campaign_dir):
    with pytest.raises(ConfigurationError, match="use one of outbox, smtp, postmark, sendgrid, mailgun, resend"):
        make_provider("pigeon", campaign_dir.settings)


def test_the_rendered_issue_merges_through_the_one_merge(campaign_dir):
    project = campaign_dir.project()
    issue = project.render(project.schedule.dates[0], project.default_variant)
    assert UNSUBSCRIBE_URL in issue.html and NAME_HTML in issue.html and NAME_TEXT in issue.text
    url = "https://news.example.org/unsubscribe/abc?x=1&y=2"
    assert issue.merge(unsubscribe_url=url, name="Zoë & <co>") == merge(
        issue.html, issue.text, unsubscribe_url=url, name="Zoë & <co>"
    )
    html, text = issue.merge(unsubscribe_url=url, name=None)
    assert "Hi there," in text and "x=1&amp;y=2" in html and UNSUBSCRIBE_URL not in html + text
