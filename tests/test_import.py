"""CSV import: bad rows reported with line numbers, valid rows in one transaction, idempotent, sticky opt-outs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaign.errors import ImportError_
from campaign.ledger.csv_import import import_subscribers, read_csv
from campaign.ledger.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store.open(f"sqlite:///{tmp_path / 'campaign.db'}")
    yield s
    s.close()


def write(tmp_path: Path, text: str, name="list.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def emails(store) -> list[str]:
    return [s.email for s in store.list_subscribers()]


def test_bad_rows_are_reported_with_line_and_reason_and_valid_rows_imported(store, tmp_path):
    path = write(
        tmp_path,
        "email,name,country,timezone\n"
        "ann@example.org,Ann,US,America/New_York\n"
        "not-an-address,Bad,US,\n"
        "\n"
        "bo@example.org,Bo,Mars,\n"
        "cy@example.org,Cy,gb,Europe/Lnodon\n"
        "di@example.org,Di,uk,Europe/London\n"
        ",Nobody,,\n",
    )
    report = import_subscribers(store, path)
    assert emails(store) == ["ann@example.org", "di@example.org"]
    rejected = {p.line: p for p in report.rejected}
    assert set(rejected) == {3, 5, 6, 8}
    assert "@" in rejected[3].message or "email" in rejected[3].message.lower()
    assert "country" in rejected[5].message and "timezone" in rejected[6].message and "empty" in rejected[8].message
    assert str(rejected[3]).startswith("list.csv:3:")
    assert store.subscriber_by_email("di@example.org").country == "GB"  # UK is GB


def test_duplicates_differing_in_case_are_one_subscriber(store, tmp_path):
    path = write(tmp_path, "email\nAnn@Example.org\nann@example.ORG\n ANN@EXAMPLE.ORG \n")
    report = import_subscribers(store, path)
    assert emails(store) == ["ann@example.org"] and report.added == 1 and report.duplicates == 2


def test_a_utf8_bom_and_crlf_line_ends_are_handled(store, tmp_path):
    path = write(tmp_path, "\ufeffemail,name\r\nzoe@example.org,Zoë\r\n")
    import_subscribers(store, path)
    assert store.subscriber_by_email("zoe@example.org").name == "Zoë"


def test_a_missing_email_column_imports_nothing_and_says_how_to_fix(store, tmp_path):
    path = write(tmp_path, "mail,name\nann@example.org,Ann\n")
    with pytest.raises(ImportError_) as info:
        import_subscribers(store, path)
    assert "email" in str(info.value) and info.value.problems[0].line == 1 and info.value.problems[0].fix
    assert emails(store) == []


def test_not_utf8_imports_nothing(store, tmp_path):
    path = write(tmp_path, "email,name\nzoe@example.org,Zoë\n", encoding="latin-1")
    with pytest.raises(ImportError_, match="UTF-8"):
        import_subscribers(store, path)
    assert emails(store) == []


def test_strict_imports_nothing_when_any_row_is_bad(store, tmp_path):
    path = write(tmp_path, "email\nann@example.org\nbroken\n")
    with pytest.raises(ImportError_):
        import_subscribers(store, path, strict=True)
    assert emails(store) == []


def test_importing_again_is_idempotent_and_never_resubscribes(store, tmp_path):
    path = write(tmp_path, "email,name\nann@example.org,Ann\nbo@example.org,Bo\n")
    import_subscribers(store, path)
    bo = store.subscriber_by_email("bo@example.org")
    store.suppress(bo.id, "unsubscribed", "test")
    again = import_subscribers(store, path)
    assert again.added == 0 and again.unchanged == 1 and again.kept_suppressed == 1
    assert store.subscriber_by_email("bo@example.org").status == "unsubscribed"
    assert len(emails(store)) == 2


def test_a_later_file_updates_names_and_countries(store, tmp_path):
    import_subscribers(store, write(tmp_path, "email,name\nann@example.org,Ann\n"))
    report = import_subscribers(store, write(tmp_path, "email,name,country\nann@example.org,Annie,NZ\n", "b.csv"))
    sub = store.subscriber_by_email("ann@example.org")
    assert report.updated == 1 and (sub.name, sub.country) == ("Annie", "NZ")


def test_the_cli_reports_rejects_on_stderr(campaign_dir):
    path = write(campaign_dir.root, "email\nann@example.org\nbroken\n")
    result = campaign_dir.run("subscribers", "import", str(path))
    assert result.returncode == 2  # the valid row is in; the exit code says one was not
    assert "1 added" in result.stdout and "list.csv:3" in result.stderr
    bad = write(campaign_dir.root, "name\nAnn\n", "bad.csv")
    result = campaign_dir.run("subscribers", "import", str(bad))
    assert result.returncode == 2 and "bad.csv:1" in result.stderr and "Traceback" not in result.stderr


# -- joined_at (issue 21 #3) -------------------------------------------------------------------------------


def test_joined_at_keeps_each_readers_place_in_utc(store, tmp_path):
    path = write(
        tmp_path,
        "email,joined_at\n"
        "ann@example.org,2027-09-14T18:30:00+02:00\n"
        "bo@example.org,2027-09-03T07:00:00Z\n"
        "cy@example.org,2027-09-20 08:15\n"
        "di@example.org,2026-05-01\n"
        "ed@example.org,\n",
    )
    before = datetime.now(UTC)
    report = import_subscribers(store, path)
    assert report.added == 5 and report.rejected == []
    joined = {s.email: s.joined_at for s in store.list_subscribers()}
    assert joined["ann@example.org"] == datetime(2027, 9, 14, 16, 30, tzinfo=UTC)
    assert joined["bo@example.org"] == datetime(2027, 9, 3, 7, 0, tzinfo=UTC)
    assert joined["cy@example.org"] == datetime(2027, 9, 20, 8, 15, tzinfo=UTC)  # no offset: UTC
    assert joined["di@example.org"] == datetime(2026, 5, 1, tzinfo=UTC)  # before the series: from day 1
    assert joined["ed@example.org"] >= before  # none given: they join now


def test_an_unparseable_joined_at_rejects_that_row_alone(store, tmp_path):
    path = write(tmp_path, "email,joined_at\nann@example.org,2027-09-03T10:00:00Z\nbo@example.org,2027-13-01\n")
    report = import_subscribers(store, path)
    assert emails(store) == ["ann@example.org"]
    (problem,) = report.rejected
    assert str(problem).startswith("list.csv:3: joined_at: ") and "2027-13-01" in str(problem) and problem.fix


def test_the_cli_imports_the_good_rows_and_exits_2_on_a_bad_joined_at(campaign_dir):
    path = write(
        campaign_dir.root, "email,joined_at\nann@example.org,2027-09-03T10:00:00Z\nbo@example.org,2027-13-01\n"
    )
    result = campaign_dir.run("subscribers", "import", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "list.csv:3: joined_at:" in " ".join(result.stderr.split()) and "1 added" in result.stdout
    strict = write(
        campaign_dir.root, "email,joined_at\ncy@example.org,2027-09-03\ndi@example.org,13/01/2027\n", "b.csv"
    )
    result = campaign_dir.run("subscribers", "import", str(strict), "--strict")
    assert result.returncode == 2 and "b.csv:3: joined_at:" in " ".join(result.stderr.split())
    st = campaign_dir.store()
    try:
        assert [s.email for s in st.list_subscribers(None)] == ["ann@example.org"]  # --strict: nothing of b.csv
    finally:
        st.close()


def test_a_later_import_never_moves_an_existing_readers_place(store, tmp_path):
    import_subscribers(store, write(tmp_path, "email,joined_at\nann@example.org,2027-09-10T09:00:00Z\n"))
    import_subscribers(store, write(tmp_path, "email,joined_at\nann@example.org,2027-09-01T09:00:00Z\n", "b.csv"))
    assert store.subscriber_by_email("ann@example.org").joined_at == datetime(2027, 9, 10, 9, tzinfo=UTC)


@pytest.mark.parametrize("header", [",".join(["email"] + ["x"] * 999_999), ",".join(["email"] * 1_000_000)])
def test_a_header_of_a_million_columns_is_refused_within_a_second(tmp_path, header):
    path = write(tmp_path, header + "\n")
    started = time.perf_counter()
    with pytest.raises(ImportError_) as info:
        read_csv(path)
    assert time.perf_counter() - started < 1.0
    assert info.value.problems[0].line == 1 and "1,000,000 columns" in str(info.value)


def test_the_duplicate_column_check_is_linear(tmp_path):
    """64 columns pass the width check; the repeated one is still named (Counter, not header.count per column)."""
    path = write(tmp_path, "email,name," + ",".join(f"c{i}" for i in range(61)) + ",name\n")
    with pytest.raises(ImportError_, match="named twice: name"):
        read_csv(path)
