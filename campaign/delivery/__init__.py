"""delivery — sending one day (listmonk's pipe): batch sources → claim → provider → record.

Owns: the sender loop only (sender.py) and its value types (values.py: SendReport, Chunk, Job); where
batches come from (batches.py: owed pages, ledger states, unknown batches); retry policy (retry.py) and the
rate limit (ratelimit.py); the sender identity (identity.py); archiving the issue when its send starts
(archive.py); test copies (proof.py); glibc allocator tuning (memory.py); welcome and confirmation mail;
the signed tokens in links.
May import: providers, ledger, series, and errors/config/clock. Never imports timing, web or cli.
"""
