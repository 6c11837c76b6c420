"""Who holds a lock or a lease: `host:pid` (a lock's owner) or `host:pid:random` (a worker's id), and whether
that process is still alive. Only a process on this host can be checked; one on another host is taken to be
alive (its lease, or PostgreSQL's session, decides when it is gone)."""

from __future__ import annotations

import os
import secrets
import socket


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def new_worker_id() -> str:
    """host:pid:random — unique per worker, and a dead local pid is recognisable."""
    return f"{this_process()}:{secrets.token_hex(4)}"


def alive(owner: str | None) -> bool:
    """False for no owner, or an owner on this host whose process no longer exists; True otherwise."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
