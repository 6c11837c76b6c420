"""The ledger's states as `StrEnum`s whose members equal their strings (`SubscriberStatus.ACTIVE == "active"`),
with module-level aliases (`ACTIVE`, `SENT`, ...). Pure — no SQLAlchemy — so the CLI and the series can name
a state without loading the database layer. schema.py stores them; each state machine's transitions are drawn
and guarded in one module: deliveries.py (DeliveryStatus), issues.py (IssueState), subscribers.py.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    """Only ACTIVE subscribers are ever sent an issue; the three suppressed states are sticky."""

    PENDING = "pending"  # signed up, confirmation link not followed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class DeliveryStatus(StrEnum):
    """One ledger row per (issue day, subscriber); the transitions are drawn in `deliveries.py`."""

    QUEUED = "queued"  # owed, enqueued when the day's send started, waiting for a worker to claim it
    INFLIGHT = "inflight"  # claimed by a worker (worker_id, lease_until), request under way
    SENT = "sent"  # accepted by the provider
    FAILED = "failed"  # transient failure past the retry bound: retried by `send --retry-failed`
    REJECTED = "rejected"  # permanent failure for this recipient (bad address, inactive recipient)
    UNKNOWN = "unknown"  # in flight when its worker died (lease expired): may or may not have gone out
    POSTPONED = "postponed"  # the subscriber was paused (or behind) at the day's send: owed later (postponed.py)
    READY = "ready"  # a postponed part chosen for this send time: sent like a retry


class IssueState(StrEnum):
    """A day's state; the transitions are drawn and guarded in `issues.py`."""

    PLANNED = "planned"  # no row: split from the article like every day not started
    FROZEN = "frozen"  # its record kept because a later day started (no state stored)
    SENDING = "sending"
    SENT = "sent"
    MISSED = "missed"
    SKIPPED = "skipped"
    RESCHEDULED = "rescheduled"


class WelcomeStatus(StrEnum):
    """inflight -> sent | failed (retried while attempts remain); skipped: not welcomed, because a part of the
    series reaches them first (a welcome then would be a second series email on one day)."""

    INFLIGHT = "inflight"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


PENDING, ACTIVE = SubscriberStatus.PENDING, SubscriberStatus.ACTIVE
UNSUBSCRIBED, BOUNCED, COMPLAINED = SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED
SUPPRESSED = (UNSUBSCRIBED, BOUNCED, COMPLAINED)

QUEUED = DeliveryStatus.QUEUED
INFLIGHT, SENT, FAILED = DeliveryStatus.INFLIGHT, DeliveryStatus.SENT, DeliveryStatus.FAILED
REJECTED, UNKNOWN = DeliveryStatus.REJECTED, DeliveryStatus.UNKNOWN
POSTPONED, READY = DeliveryStatus.POSTPONED, DeliveryStatus.READY
DELIVERY_STATES = tuple(DeliveryStatus)


class Role(StrEnum):
    """An organiser's role in the studio: editors edit; approvers also approve others' held edits; admins also
    read the audit log. (Users are added and removed with `campaign users`, by whoever has the shell.)"""

    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


class ApprovalState(StrEnum):
    """pending -> approved | rejected (studio_approvals.py owns the transitions)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AuditTag(StrEnum):
    """source:subject:action, like PyPI warehouse's events (ledger/audit.py records them; append-only)."""

    SIGNIN_LINK_REQUESTED = "user:signin_link:requested"
    SIGNIN_LINK_REFUSED = "user:signin_link:refused"  # over the rate limit
    SIGNIN_LINK_ISSUED = "user:signin_link:issued"  # printed by `campaign users link`
    SIGNIN_SUCCESS = "user:signin:success"
    SIGNIN_FAILURE = "user:signin:failure"
    SIGNOUT = "user:signout"
    USER_ADDED = "user:account:add"
    USER_REMOVED = "user:account:remove"
    DAY_SAVED = "series:day:saved"
    DAY_SAVE_REJECTED = "series:day:save_rejected"
    DAY_SAVE_HELD = "series:day:save_held"
    DAY_APPROVED = "series:day:approved"
    DAY_REJECTED = "series:day:rejected"
    DAY_APPROVAL_REFUSED = "series:day:approval_refused"
    ARTICLE_SAVED = "series:article:saved"
    REVISION_RESTORED = "series:revision:restored"
    SEND_STARTED = "series:send:started"


class AlertSendStatus(StrEnum):
    """pending -> sent | failed (retried with back-off; `campaign alerts list` shows the failed ones)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
