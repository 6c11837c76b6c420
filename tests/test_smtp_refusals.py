"""The reply after the message body is honoured (smtplib.sendmail's rule), against a local aiosmtpd server that
answers 451, 554, 552 or 421 after DATA — or drops the connection — for chosen recipients; RSET after every
refused transaction, so the next reader is never refused for the last one's sake; and Message-IDs that never
repeat across two databases."""

from __future__ import annotations

from tests.provider_servers import go_live, make_rig, seed_subscribers
from tests.smtp_servers import DROP, LocalSMTP, RefusingMailbox


def reader(i: int) -> str:
    return f"reader{i:06d}@example.org"


class _NoServer:
    url = ""


def test_451_fails_554_and_552_reject_and_the_next_reader_is_delivered(campaign_dir):
    mailbox = RefusingMailbox(
        {
            reader(3): ["451 4.3.0 Error: queue file write error"],
            reader(6): ["554 5.7.1 Rejected by policy"],
            reader(8): ["552 5.3.4 Message size exceeds fixed limit"],
        }
    )
    with LocalSMTP(mailbox) as server:
        rig = make_rig(campaign_dir, _NoServer(), "smtp", server.env)
        seed_subscribers(rig.store, 10)
        report = rig.sender().send_day(rig.day)
        rig.provider.close()
    assert (report.sent, report.failed, report.rejected, report.unknown) == (7, 1, 2, 0)
    rows = rig.rows()
    assert rows[reader(3)].status == "failed" and "451" in rows[reader(3)].error
    assert rows[reader(6)].status == "rejected" and "554" in rows[reader(6)].error
    assert rows[reader(8)].status == "rejected" and "552" in rows[reader(8)].error
    # the reader right after each refusal went out: RSET ended the refused transaction
    assert {reader(4), reader(7), reader(9)} <= set(mailbox.recipients())
    assert mailbox.nested == 0 and mailbox.rsets >= 3
    assert sorted(mailbox.recipients()) == sorted(reader(i) for i in (1, 2, 4, 5, 7, 9, 10))
    assert mailbox.connections() == 1  # a 4xx/5xx after DATA does not end the connection


def test_421_after_data_fails_the_reader_and_the_next_one_goes_out_on_a_new_connection(campaign_dir):
    mailbox = RefusingMailbox({reader(2): ["421 4.3.2 System shutting down"]})
    with LocalSMTP(mailbox) as server:
        rig = make_rig(campaign_dir, _NoServer(), "smtp", server.env)
        seed_subscribers(rig.store, 4)
        report = rig.sender().send_day(rig.day)
        rig.provider.close()
    assert (report.sent, report.failed, report.unknown) == (3, 1, 0)  # the reply was seen: failed, not unknown
    assert rig.rows()[reader(2)].status == "failed"
    assert mailbox.connections() == 2 and mailbox.nested == 0


def test_a_connection_lost_after_the_body_leaves_that_reader_unknown_only(campaign_dir):
    mailbox = RefusingMailbox({reader(2): [DROP]})
    with LocalSMTP(mailbox) as server:
        rig = make_rig(campaign_dir, _NoServer(), "smtp", server.env)
        seed_subscribers(rig.store, 4)
        report = rig.sender().send_day(rig.day)
        rig.provider.close()
    assert (report.sent, report.unknown) == (3, 1)
    assert rig.rows()[reader(2)].status == "unknown"
    assert sorted(mailbox.recipients()) == [reader(1), reader(3), reader(4)]


def test_message_ids_never_repeat_across_two_databases_and_stay_stable_in_one(campaign_dir, tmp_path):
    mailbox = RefusingMailbox()
    with LocalSMTP(mailbox) as server:
        first = make_rig(campaign_dir, _NoServer(), "smtp", server.env)
        seed_subscribers(first.store, 5)
        first.sender().send_day(first.day)
        first.provider.close()
        instance = first.store.get_state("message_id_instance")
        campaign_dir.env["CAMPAIGN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'second.db'}"
        second = make_rig(campaign_dir, _NoServer(), "smtp", server.env)
        seed_subscribers(second.store, 5)  # the same subscriber ids, the same day, the same domain
        second.sender().send_day(second.day)
        second.provider.close()
    ids = mailbox.message_ids()
    assert len(ids) == 10 and len(set(ids)) == 10
    assert instance and second.store.get_state("message_id_instance") not in (None, instance)
    # the same database keeps its part: a resend after a crash reuses the id
    assert first.sender().identity(first.day).instance == instance


def test_ten_readers_through_the_cli_451_retried_554_rejected_and_nothing_quiet(campaign_dir):
    """The issue's acceptance run: `campaign send` with CAMPAIGN_PROVIDER=smtp, ten readers."""
    go_live(campaign_dir)
    mailbox = RefusingMailbox({reader(3): ["451 4.7.1 Try again later"], reader(6): ["554 5.7.1 Rejected"]})
    with LocalSMTP(mailbox) as server:
        campaign_dir.env.update(server.env)
        store = campaign_dir.store()
        seed_subscribers(store, 10)
        store.close()
        first = campaign_dir.run("send", "1", "--yes")
        assert first.returncode == 1, first.stderr
        assert "sent 8, failed 1, rejected 1" in first.stdout
        assert "1 failed delivery(ies) waiting" in first.stdout and "--retry-failed" in first.stderr
        assert {reader(4), reader(7)} <= set(mailbox.recipients()) and len(mailbox.recipients()) == 8
        # a plain rerun is not quiet about the one waiting, and fails
        rerun = campaign_dir.run("send", "1", "--yes")
        assert rerun.returncode == 1
        assert "1 failed" in rerun.stderr and "campaign send 2027-09-01 --retry-failed" in rerun.stderr
        worker = campaign_dir.run("worker", "--once")  # nothing queued, but one delivery waits: not quiet
        assert worker.returncode == 1 and "1 failed" in worker.stderr and "--retry-failed" in worker.stderr
        status = campaign_dir.run("status", check=True).stdout
        day1 = status.split(" 1 │")[1].split("\n")[0]
        assert "incomplete" in day1 and " sent " not in day1
        assert "waiting: day 1 2027-09-01: 1 failed" in status
        retried = campaign_dir.run("send", "1", "--retry-failed", "--yes", check=True)
        assert "sent 1, failed 0, rejected 0" in retried.stdout
    assert sorted(mailbox.recipients()) == sorted(reader(i) for i in range(1, 11) if i != 6)
    assert mailbox.nested == 0
    after = campaign_dir.run("status", check=True).stdout
    assert "waiting:" not in after and "incomplete" not in after
    assert campaign_dir.run("send", "1", "--yes", check=True).stdout.count("nothing to do") == 1


def test_a_test_copy_refused_after_data_is_not_reported_sent(campaign_dir):
    go_live(campaign_dir)
    mailbox = RefusingMailbox({"me@example.org": ["552 5.3.4 Message size exceeds fixed limit"]})
    with LocalSMTP(mailbox) as server:
        result = campaign_dir.run("send", "1", "--to", "me@example.org", env=server.env)
    assert result.returncode == 1
    assert "sent to" not in result.stdout and "552" in result.stderr
    assert mailbox.messages == []
