"""Hostile requests to every studio route, signed in with a valid CSRF token (and without a session): never a
500, never a traceback, and the organiser's file unchanged by anything that is not a valid save.

The routes come from the app's own url_map, so a new route cannot go unfuzzed."""

from __future__ import annotations

import logging

import pytest

from tests.studio_helpers import make_studio

RULES = {
    "/studio/signin": {"GET", "POST"},
    "/studio/signin/<token>": {"GET", "POST"},
    "/studio/signout": {"POST"},
    "/studio/api/session": {"GET"},
    "/studio/api/days": {"GET"},
    "/studio/api/days/<day>": {"PUT"},
    "/studio/api/preview": {"POST"},
    "/studio/api/revisions": {"GET"},
    "/studio/api/revisions/<int:revision_id>": {"GET"},
    "/studio/api/revisions/<int:revision_id>/restore": {"POST"},
    "/studio/api/approvals": {"GET"},
    "/studio/api/approvals/<int:approval_id>": {"POST"},
    "/studio/api/audit": {"GET"},
    "/studio/api/article": {"GET", "PUT"},
    "/studio/api/article/check": {"POST"},
    "/studio/article": {"GET", "POST"},
    "/studio/": {"GET"},
    "/studio/days/<day>": {"GET", "POST"},
    "/studio/history": {"GET"},
    "/studio/audit": {"GET"},
    "/studio/approvals/<int:approval_id>": {"POST"},
    "/studio/revisions/<int:revision_id>/restore": {"POST"},
    "/studio/frame/<frame_id>": {"GET"},
    "/studio/static/<path:filename>": {"GET"},
}
SEGMENTS = {
    "valid": None,
    "long": "A" * 5000,
    "accented": "%C3%A9t%C3%A9",
    "invalid-utf8": "%FF%FE",
    "traversal": "..%2F..%2Fschedule.yaml",
    "nul": "2027-09-12%00",
    "separator": "%E2%80%A8%0D%0A",
    "not-a-date": "2027-02-30",
    "huge-int": "9" * 40,
}
VALID = {
    "token": "x",
    "day": "2027-09-12",
    "revision_id": "1",
    "approval_id": "1",
    "frame_id": "x",
    "filename": "studio.js",
}
BODIES = {
    "empty": (b"", None),
    "not-json": (b"{not json", "application/json"),
    "json-list": (b'["subject"]', "application/json"),
    "json-null": (b"null", "application/json"),
    "wrong-types": (b'{"subject": {"a": 1}, "note": [1], "date": 5, "decision": 1, "to": []}', "application/json"),
    "control-chars": (
        b'{"subject": "a\\u0000b\\u2028c", "date": "2027-09-12", "note": "\\u202e"}',
        "application/json",
    ),
    "deep": (b'{"subject": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    "invalid-utf8": (b'{"subject": "\xff\xfe"}', "application/json"),
    "form": (b"subject=%00&note=" + b"x" * 10000 + b"&decision=approve&to=before", "application/x-www-form-urlencoded"),
    "too-big": (b'{"subject": "' + b"x" * (300 * 1024) + b'"}', "application/json"),
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from tests.conftest import CampaignDir, base_env, copy_campaign

    root = copy_campaign(tmp_path_factory.mktemp("hostile-studio") / "campaign")
    s = make_studio(CampaignDir(root, base_env(root)))
    client, csrf = s.signed_in("ann@example.org", "admin")
    s.admin = (client, csrf)  # type: ignore[attr-defined]
    yield s
    s.app.extensions["studio"].mailer.close()
    s.store.close()


def test_every_rule_is_listed(studio):
    found: dict[str, set[str]] = {}
    for rule in studio.app.url_map.iter_rules():
        found.setdefault(rule.rule, set()).update(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
    assert found == RULES, "a studio route was added or changed: list it in RULES"


def _paths(rule: str):
    import re

    args = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
    for label, value in SEGMENTS.items():
        path = rule
        for arg in args:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", value or VALID[arg], path)
        yield label, path
        if not args:
            return


def _cases():
    for rule, methods in RULES.items():
        for method in sorted(methods):
            for label, path in _paths(rule):
                if method == "GET":
                    yield pytest.param(method, path, b"", None, id=f"{method}-{rule}-{label}")
                elif label == "valid":
                    for body_id, (body, content_type) in BODIES.items():
                        yield pytest.param(method, path, body, content_type, id=f"{method}-{rule}-{body_id}")
                else:
                    yield pytest.param(method, path, b"{}", "application/json", id=f"{method}-{rule}-{label}")


@pytest.mark.parametrize(("method", "path", "body", "content_type"), list(_cases()))
@pytest.mark.parametrize("who", ["admin", "nobody"])
def test_no_request_produces_a_500(studio, caplog, method, path, body, content_type, who):
    if path.startswith("/studio/signout") and who == "admin":
        pytest.skip("signing out would end the module's session")
    before = studio.schedule.read_bytes()
    client, csrf = studio.admin if who == "admin" else (studio.client(), "")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="campaign.studio"):
        response = client.open(
            path, method=method, data=body, content_type=content_type, headers={"X-CSRF-Token": csrf, "If-Match": '"x"'}
        )
    text = response.get_data(as_text=True)
    assert response.status_code < 500 and not caplog.records, (response.status_code, text[:300])
    assert "Traceback" not in text
    assert studio.schedule.read_bytes() == before  # nothing written: no body here is a valid save
