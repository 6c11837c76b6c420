"""The subscriber pages' templates (templates/web/) run in the same sandbox as the emails': a hostile edit
can neither run code nor read a file outside templates/."""

from __future__ import annotations

import os

from campaign.web import create_app
from tests.conftest import people
from tests.web_live import add_subscribers


def _client(campaign_dir):
    store = campaign_dir.store()
    app = create_app(campaign_dir.settings, store)
    return app, store


def test_a_web_template_reaching_python_internals_runs_nothing(campaign_dir, tmp_path):
    marker = tmp_path / "ran"
    home = campaign_dir.root / "templates" / "web" / "home.html.j2"
    home.write_text(
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
        "{{ lipsum.__globals__['os'].getcwd() }}",
        encoding="utf-8",
    )
    add_subscribers(campaign_dir, people(1))
    app, store = _client(campaign_dir)
    try:
        response = app.test_client().get("/")
        assert response.status_code >= 400
        assert os.getcwd() not in response.get_data(as_text=True)
        assert not marker.exists()
    finally:
        app.extensions["campaign"].mailer.close()
        store.close()


def test_a_web_template_symlinked_outside_templates_is_not_read(campaign_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOP-SECRET", encoding="utf-8")
    home = campaign_dir.root / "templates" / "web" / "home.html.j2"
    home.unlink()
    home.symlink_to(secret)
    app, store = _client(campaign_dir)
    try:
        response = app.test_client().get("/")
        assert response.status_code >= 400
        assert "TOP-SECRET" not in response.get_data(as_text=True)
    finally:
        app.extensions["campaign"].mailer.close()
        store.close()
