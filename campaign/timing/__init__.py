"""timing — when things are sent: the APScheduler wiring, send slots per time zone, the series pause and
catch-up, day states, watching the organiser's files for edits, and the rehearsal clock.

May import: delivery, providers, ledger, series, and errors/config/clock. Never imports web or cli.
"""
