"""The organisers' studio (`campaign studio`): accounts and passwordless sign-in, server-side sessions, the
JSON API, the pages, history and approvals, and the audit log.

Owns: app.py (the Flask app), auth.py (sign-in, sessions, the CSRF/Origin guard), api.py (the JSON API),
pages.py (HTML pages), saving.py (save, hold, approve, restore), checking.py (the one call into the pipeline:
`check_day`), mailer.py (the sign-in email), context.py, views.py, templates/ and static/.

May import: web (its security helpers), timing, delivery, providers, ledger, series, errors/config/clock —
never cli. Files are edited only through series/edit.py; revisions and audit go through ledger/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaign.studio.app import create_studio_app

__all__ = ["create_studio_app"]


def __getattr__(name: str):
    if name == "create_studio_app":
        from campaign.studio.app import create_studio_app

        return create_studio_app
    raise AttributeError(name)
