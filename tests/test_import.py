"""CSV import: bad rows reported with line numbers, valid rows in one transaction, idempotent, sticky opt-outs."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.errors import ImportError_
from campaign.ledger.csv_import import import_subscribers
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
    assert result.returncode == 0
    assert "1 added" in result.stdout and "list.csv:3" in result.stderr
    bad = write(campaign_dir.root, "name\nAnn\n", "bad.csv")
    result = campaign_dir.run("subscribers", "import", str(bad))
    assert result.returncode == 2 and "bad.csv:1" in result.stderr and "Traceback" not in result.stderr
