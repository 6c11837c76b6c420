"""SMTP against a real Postfix (Debian's, when installed — CI installs it): a private instance on 127.0.0.1
with its own config and queue folders, delivering example.org to Maildirs. Postfix refuses chosen readers
*after the message body* (smtpd_end_of_data_restrictions: 451 for one, 554 for another), which is what the
provider once recorded as sent. Skipped without /usr/sbin/postfix or without root (Postfix's master runs as
root and drops to its `postfix` user)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.provider_servers import make_rig, seed_subscribers
from tests.smtp_servers import free_port

POSTFIX = Path("/usr/sbin/postfix")
pytestmark = pytest.mark.skipif(
    not POSTFIX.exists() or os.geteuid() != 0, reason="needs Debian's postfix and root (CI installs it)"
)

MASTER_CF = """\
{port}    inet  n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.postfix-test.invalid
mydomain = postfix-test.invalid
myorigin = $myhostname
mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_end_of_data_restrictions = check_recipient_access regexp:{conf}/end_of_data
virtual_mailbox_domains = example.org
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{conf}/mailboxes
default_transport = error:no mail leaves this test
relay_transport = error:no mail leaves this test
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtputf8_enable = yes
biff = no
"""


class PrivatePostfix:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "conf"
        self.port = free_port()
        self.mail = root / "mail"

    def refuse(self, rules: dict[str, str]) -> None:
        """address -> the reply after its message body (a 4xx or 5xx)."""
        lines = [f"/^{address.replace('.', '[.]')}$/ {reply}" for address, reply in rules.items()]
        (self.conf / "end_of_data").write_text("\n".join(lines) + "\n" if lines else "/^$/ DUNNO\n")

    def start(self) -> None:
        self.conf.mkdir(parents=True)
        nobody = pwd.getpwnam("nobody")
        self.mail.mkdir()
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        (self.root / "queue").mkdir()  # root-owned, like /var/spool/postfix (Postfix makes its subfolders)
        (self.root / "data").mkdir()
        os.chown(self.root / "data", pwd.getpwnam("postfix").pw_uid, -1)
        (self.conf / "main.cf").write_text(
            MAIN_CF.format(root=self.root, conf=self.conf, uid=nobody.pw_uid, gid=nobody.pw_gid)
        )
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=self.port))
        # (virtual(8) allows no regexp substitution in mailbox maps: one line per mailbox)
        names = [f"reader{i:06d}" for i in range(1, 21)]
        (self.conf / "mailboxes").write_text("".join(f"{n}@example.org example.org/{n}/\n" for n in names))
        for name in ("dynamicmaps.cf", "postfix-files"):
            if (Path("/etc/postfix") / name).exists():
                shutil.copy(Path("/etc/postfix") / name, self.conf / name)
        self.refuse({})
        self._postfix("check")  # makes the queue's subfolders
        self._postfix("start")
        wait_until(self._listening, timeout=30, what="postfix listening")

    def _listening(self) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def reload(self) -> None:
        self._postfix("reload")
        time.sleep(1.5)  # smtpd processes pick the new map up when they restart

    def stop(self) -> None:
        subprocess.run([str(POSTFIX), "-c", str(self.conf), "stop"], capture_output=True, timeout=60)

    def _postfix(self, action: str) -> None:
        done = subprocess.run([str(POSTFIX), "-c", str(self.conf), action], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"postfix {action}: {done.stdout}{done.stderr}"

    def delivered(self) -> dict[str, int]:
        """mailbox -> messages delivered to its Maildir."""
        base = self.mail / "example.org"
        if not base.exists():
            return {}
        return {p.name: len(list((p / "new").glob("*"))) for p in base.iterdir() if (p / "new").exists()}

    @property
    def env(self) -> dict[str, str]:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_SECURITY": "none"}


@pytest.fixture
def postfix():
    # Not under pytest's tmp_path: that is private to root, and Postfix opens its files as its own user.
    root = Path(tempfile.mkdtemp(prefix="campaign-postfix-"))
    root.chmod(0o755)
    server = PrivatePostfix(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


class _NoServer:
    url = ""


def reader(i: int) -> str:
    return f"reader{i:06d}@example.org"


def test_postfix_refusing_after_the_body_451_retried_554_rejected_the_rest_delivered(campaign_dir, postfix):
    postfix.refuse({reader(3): "451 4.7.1 Try again later", reader(6): "554 5.7.1 Rejected by policy"})
    postfix.reload()
    rig = make_rig(campaign_dir, _NoServer(), "smtp", postfix.env)
    seed_subscribers(rig.store, 10)
    report = rig.sender().send_day(rig.day)
    rig.provider.close()
    assert (report.sent, report.failed, report.rejected, report.unknown) == (8, 1, 1, 0), report.summary()
    rows = rig.rows()
    assert rows[reader(3)].status == "failed" and "451" in rows[reader(3)].error
    assert rows[reader(6)].status == "rejected" and "554" in rows[reader(6)].error
    expected = {f"reader{i:06d}": 1 for i in range(1, 11) if i not in (3, 6)}
    wait_until(lambda: postfix.delivered() == expected, timeout=60, what="eight Maildir deliveries")
    # the server accepts reader 3 now: --retry-failed delivers it, once
    postfix.refuse({reader(6): "554 5.7.1 Rejected by policy"})
    postfix.reload()
    again = rig.sender().send_day(rig.day, retry_failed=True)
    rig.provider.close()
    assert (again.sent, again.failed_waiting, again.unknown) == (1, 0, 0), again.summary()
    expected["reader000003"] = 1
    wait_until(lambda: postfix.delivered() == expected, timeout=60, what="reader 3 delivered once")
