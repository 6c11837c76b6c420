"""The `campaign` command line: thin commands over the library, errors mapped to exit codes.

Owns: argument parsing, output, exit codes. May import every other layer; nothing imports it.
Exit codes: 0 success; 2 invalid input (one line per problem on stderr, no traceback); 1 other failures.
Every command acts on the campaign folder it is run in (schedule.yaml, content/, templates/).
Each command group registers itself on `campaign.cli.app.app`; importing this package registers them all.
Heavy libraries (SQLAlchemy, Jinja2, premailer, requests) are imported inside the commands that use them.
"""

from __future__ import annotations

import sys

# Imported in the order `campaign --help` lists them; each registers its commands on `app`.
from campaign.cli import alerting, check, db, privacy, report, schedule, send, series, studio, subscribers, web, workers  # noqa: F401, I001
from campaign.cli.alerting import WAIT_ON_EXIT
from campaign.cli.app import app, command, err
from campaign.errors import CampaignError, InvalidInput, LocalSendError, LockHeld, StorageError

__all__ = ["app", "command", "main"]


def main() -> None:
    try:
        _main()
    finally:
        if "campaign.alerts.center" in sys.modules:  # alerts were raised: give them a bounded time to go out
            from campaign.alerts.center import wait_for_alerts

            wait_for_alerts(WAIT_ON_EXIT)


def _main() -> None:
    try:
        command()(prog_name="campaign")
    except InvalidInput as error:
        for line in error.lines():
            err.print(f"error: {line}", markup=False)
        sys.exit(2)
    except LockHeld as error:
        err.print(f"error: {error}; wait for it to finish or stop it first", markup=False)
        sys.exit(1)
    except CampaignError as error:
        err.print(f"error: {error}", markup=False)
        if isinstance(error, StorageError | LocalSendError):
            from campaign.ledger.storage import storage_failure

            why = str(error) if isinstance(error, StorageError) else storage_failure(error)
            if why:
                _alert_storage_failure(why)  # e.g. the database's or the outbox's disk is full
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as error:  # a full disk or a failing database: one line and an alert, never a traceback
        from campaign.ledger.storage import storage_failure

        failure = storage_failure(error)
        if failure is None:
            raise
        err.print(f"error: {failure}", markup=False)
        _alert_storage_failure(failure)
        sys.exit(1)


def _alert_storage_failure(line: str) -> None:
    """Tell the webhook and the operators (the database itself may be what failed: nothing is recorded)."""
    from campaign.alerts.center import Alerts
    from campaign.alerts.kinds import AlertKind
    from campaign.config import load_settings
    from campaign.series.schedule import load_schedule

    try:
        settings = load_settings()
    except CampaignError:
        return
    try:
        schedule = load_schedule(settings.schedule_path).schedule
    except Exception:  # noqa: BLE001 (alerts still reach the webhook)
        schedule = None
    command = " ".join(sys.argv[1:3])
    Alerts(settings, None, schedule).raise_alert(
        AlertKind.STORAGE_FAILED, f"`campaign {command}` stopped: {line}", cause=command, dedupe=False
    )
