"""Organisers' accounts, their server-side sessions and single-use sign-in links (the studio's).

Tokens never reach the database: a sign-in link's token and a session's id are stored as their SHA-256, so a
copy of the database lets nobody sign in. Redeeming a link is one guarded UPDATE (unused, unexpired, its user
not removed), so two requests racing with the same link cannot both succeed.

Sessions: `IDLE` without a request ends one, `LIFETIME` after sign-in ends it whatever happens; removing a user
deletes their sessions and unused links at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update

from campaign.ledger.schema import Tables, signin_links, studio_sessions, users
from campaign.ledger.states import Role

LINK_VALID = timedelta(minutes=15)
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: Role
    created_at: datetime
    removed_at: datetime | None = None

    @property
    def can_approve(self) -> bool:
        return self.role in (Role.APPROVER, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _user(row) -> User:
    return User(row.id, row.email, Role(row.role), row.created_at, row.removed_at)


class Accounts(Tables):
    # -- users -------------------------------------------------------------------------------------------
    def add_user(self, email: str, role: Role, *, at: datetime) -> tuple[User, bool]:
        """Add (or re-add, or change the role of) an organiser. Returns the user and whether it is new."""
        with self.engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.email == email)).first()
            if row is None:
                new_id = conn.execute(
                    users.insert().values(email=email, role=role.value, created_at=at).returning(users.c.id)
                ).scalar_one()
                return User(new_id, email, role, at), True
            conn.execute(update(users).where(users.c.id == row.id).values(role=role.value, removed_at=None))
            return User(row.id, email, role, row.created_at), row.removed_at is not None

    def user_by_email(self, email: str, *, active: bool = True) -> User | None:
        query = select(users).where(users.c.email == email)
        if active:
            query = query.where(users.c.removed_at.is_(None))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _user(row) if row else None

    def user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).where(users.c.removed_at.is_(None)).order_by(users.c.email))
            return [_user(r) for r in rows]

    def remove_user(self, email: str, *, at: datetime) -> User | None:
        """Mark the user removed and revoke every session and unused link of theirs, in one transaction."""
        with self.engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.email == email, users.c.removed_at.is_(None))).first()
            if row is None:
                return None
            conn.execute(update(users).where(users.c.id == row.id).values(removed_at=at))
            conn.execute(delete(studio_sessions).where(studio_sessions.c.user_id == row.id))
            conn.execute(delete(signin_links).where(signin_links.c.user_id == row.id, signin_links.c.used_at.is_(None)))
            return _user(row)

    # -- sign-in links -------------------------------------------------------------------------------------
    def add_signin_link(self, user_id: int, token: str, *, at: datetime) -> datetime:
        expires = at + LINK_VALID
        with self.engine.begin() as conn:
            conn.execute(
                signin_links.insert().values(
                    token_hash=token_hash(token), user_id=user_id, created_at=at, expires_at=expires
                )
            )
        return expires

    def link_user(self, token: str, *, at: datetime) -> User | None:
        """The active user a still-valid link belongs to, without using it up (the GET of the link)."""
        query = (
            select(users)
            .select_from(signin_links.join(users, users.c.id == signin_links.c.user_id))
            .where(signin_links.c.token_hash == token_hash(token), signin_links.c.used_at.is_(None))
            .where(signin_links.c.expires_at > at, users.c.removed_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _user(row) if row else None

    def redeem_signin_link(self, token: str, *, at: datetime) -> User | None:
        """Use the link up (once, while valid, its user not removed): the user, or None."""
        active = select(users.c.id).where(users.c.id == signin_links.c.user_id, users.c.removed_at.is_(None)).exists()
        used = (
            update(signin_links)
            .where(signin_links.c.token_hash == token_hash(token), signin_links.c.used_at.is_(None))
            .where(signin_links.c.expires_at > at, active)
            .values(used_at=at)
            .returning(signin_links.c.user_id)
        )
        with self.engine.begin() as conn:
            user_id = conn.execute(used).scalar()
            if user_id is None:
                return None
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row)

    # -- sessions ----------------------------------------------------------------------------------------------
    def add_session(self, user_id: int, session_id: str, *, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                studio_sessions.insert().values(
                    id_hash=token_hash(session_id), user_id=user_id, created_at=at, last_seen_at=at
                )
            )

    def session_user(self, session_id: str, *, at: datetime) -> User | None:
        """The active user of a live session, whose idle clock restarts now; None (and the session gone) when it
        idled out, outlived its lifetime, or its user was removed."""
        key = token_hash(session_id)
        live = and_(
            studio_sessions.c.id_hash == key,
            studio_sessions.c.last_seen_at > at - IDLE,
            studio_sessions.c.created_at > at - LIFETIME,
        )
        with self.engine.begin() as conn:
            row = conn.execute(
                select(users)
                .select_from(studio_sessions.join(users, users.c.id == studio_sessions.c.user_id))
                .where(live, users.c.removed_at.is_(None))
            ).first()
            if row is None:
                conn.execute(delete(studio_sessions).where(studio_sessions.c.id_hash == key))
                return None
            conn.execute(update(studio_sessions).where(studio_sessions.c.id_hash == key).values(last_seen_at=at))
        return _user(row)

    def end_session(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(studio_sessions).where(studio_sessions.c.id_hash == token_hash(session_id)))
