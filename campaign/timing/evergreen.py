"""`start: on_join` — the evergreen series' send times (series/parts.py has the parts).

There is no calendar: every send time is a "tail" send time (ledger/postponed.py) — each reader not started
yet is given all the parts as POSTPONED (positions.py `start`), and at each send time they may get, their
earliest part becomes READY and goes out. So every reader gets part 1 at their first send time after joining,
then one part per send time, in order, never two on one local day, past any pause of theirs.

The send times are `send_time` every day, in the campaign's zone (`delivery: campaign_time`) or in each
reader's (`local_time`), on the weekdays of `send_days` *in the reader's zone*: with campaign time, a Friday
09:00 in New York is already Saturday in Auckland, so that send time leaves Auckland out (its slot is narrowed
to the zones where it is still a send day). `days_between` is kept per reader by the ledger's advance (the last
part they had must be that many days old).

The scheduler plans a window of dates: from yesterday (a send time just missed still runs within the grace
window) to far enough ahead for the last waiting reader to get every part — at least tomorrow, so a reader who
joins now has their send time planned. A rehearsal's window starts at the first waiting join instead (its
sign-ups are pre-registrations), and with nobody waiting or behind, every slot is owed nothing: it ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from campaign.clock import zone_of
from campaign.ledger.views import SchedulerLedger
from campaign.series.parts import PART_EPOCH
from campaign.series.schedule import Schedule

Window = tuple[date, date]  # the first and last date of the planned send times


def days_per_part(schedule: Schedule) -> int:
    """The most calendar days between two parts of one reader: `days_between`, then the next send day."""
    c = schedule.campaign
    return c.days_between + 7 - len(c.weekdays) + 1


def window(schedule: Schedule, store: SchedulerLedger, now: datetime) -> Window:
    c, parts = schedule.campaign, schedule.dates
    today = now.astimezone(c.tz).date()
    first, last = store.waiting_joins(parts)
    behind = store.most_behind(parts)
    step = days_per_part(schedule) + (1 if c.local_time else 0)
    end = today + timedelta(days=1)
    if behind:
        end = max(end, today + timedelta(days=behind * step + 2))
    if last is not None:
        end = max(end, last.astimezone(c.tz).date() + timedelta(days=len(parts) * step + 2))
    start = today - timedelta(days=1)
    if first is not None and not behind:
        start = max(start, first.astimezone(c.tz).date() - timedelta(days=1))
    return start, max(start, end)


def evergreen_slots(schedule: Schedule, zones: frozenset[str], span: Window | None):
    """The send times of `span`, earliest first: one per date (campaign time) or per distinct local instant,
    each narrowed to the zones where its date is a send day."""
    from campaign.timing.slots import Slot  # (slots.py imports this module)

    if span is None or not schedule.dates:
        return []
    c = schedule.campaign
    series, last, weekdays = tuple(schedule.dates), schedule.dates[-1], c.weekdays
    number = len(series)
    out = []
    for n in range((span[1] - span[0]).days + 1):
        on = span[0] + timedelta(days=n)
        campaign_at = datetime.combine(on, c.send_clock, tzinfo=c.tz).astimezone(UTC)
        ordinal = (on - PART_EPOCH).days
        groups: dict[datetime, set[str]] = {campaign_at: set()}
        for name in zones:
            zone = zone_of(name)
            if c.local_time:
                groups.setdefault(datetime.combine(on, c.send_clock, tzinfo=zone).astimezone(UTC), set()).add(name)
            elif campaign_at.astimezone(zone).weekday() in weekdays:
                groups[campaign_at].add(name)
        for at, names in groups.items():
            default = at == campaign_at and on.weekday() in weekdays
            if c.local_time and on.weekday() not in weekdays:
                continue  # every zone's own `on` is the same weekday
            if not names and not default:
                continue
            everyone = not c.local_time and len(weekdays) == 7
            out.append(
                Slot(
                    last,
                    number,
                    at,
                    at,
                    None if everyone else frozenset(names),
                    default_group=default,
                    tail=ordinal,
                    series=series,
                    from_start=True,
                    evergreen=True,
                )
            )
    return sorted(out, key=lambda s: s.at)


def next_send_time(schedule: Schedule, store: SchedulerLedger, now: datetime):
    """The next send time of the window after `now` (for `status`), or None."""
    from campaign.timing.slots import slots_for, subscriber_zones

    zones = subscriber_zones(store) if schedule.campaign.zoned else frozenset()
    slots = slots_for(schedule, zones, tail=window(schedule, store, now))
    return next((s for s in slots if s.at > now), None)
