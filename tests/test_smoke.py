from tests.conftest import people


def test_send_day_one_writes_one_eml_per_subscriber(campaign_dir):
    campaign_dir.run("subscribers", "import", str(campaign_dir.write_csv(people(5))), check=True)
    campaign_dir.run("send", "1", "--yes", check=True)  # day 1 is in the future: an early send needs --yes
    files = sorted((campaign_dir.outbox / "2027-09-01").glob("*.eml"))
    assert len(files) == 5
