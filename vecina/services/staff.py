"""Staff accounts for the console: argon2id password hashes, roles, team scoping, server-side
sessions and login throttling.

Scoping: supervisors and admins serve every team; an agent serves exactly the teams of their
account, so an agent without a team sees no team's data (never "all of them").

Sessions live in the database, so signing out (or disabling an account) ends them at once, on
every console process. The browser holds a random token; the database holds its SHA-256 only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope, utcnow
from vecina.db.models import LoginAttempt, StaffSession
from vecina.db.models import StaffUser as StaffUserRow

AGENT, SUPERVISOR, ADMIN = "agent", "supervisor", "admin"
ROLES = (AGENT, SUPERVISOR, ADMIN)
PERMISSIONS: Dict[str, Tuple[str, ...]] = {
    AGENT: ("inbox", "reply", "unattended", "appointments"),
    SUPERVISOR: ("inbox", "reply", "unattended", "appointments", "assign", "all_teams"),
    ADMIN: ("inbox", "reply", "unattended", "appointments", "assign", "all_teams", "audit", "users"),
}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
MIN_PASSWORD = 12
FAILURES_PER_USERNAME = 5  # in THROTTLE_WINDOW; the next attempt is refused, right password or not
FAILURES_PER_REMOTE = 20
THROTTLE_WINDOW = timedelta(minutes=1)
ATTEMPTS_KEPT = timedelta(days=30)


class StaffError(Exception):
    """A request the directory refuses, with a message for the operator."""


class LoginFailed(Exception):
    """Wrong username or password (never says which)."""


class Throttled(Exception):
    """Too many failed sign-ins in the last minute."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: str
    teams: Tuple[str, ...]
    active: bool

    @classmethod
    def of(cls, row: StaffUserRow) -> "StaffUser":
        return cls(row.id, row.username, row.display_name, row.role, tuple(row.teams or ()), bool(row.active))

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, ())

    def serves(self, team: Optional[str]) -> bool:
        """Whether the user sees this team's tickets and offices: supervisors and admins see every
        team; an agent only the teams of their account, and an agent with none sees nothing."""
        return self.can("all_teams") or (team is not None and team in self.teams)


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffDirectory:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = utcnow,
                 idle_timeout: timedelta = timedelta(minutes=30), max_age: timedelta = timedelta(hours=12),
                 hasher: Optional[PasswordHasher] = None) -> None:
        self.url = database_url
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.hasher = hasher or PasswordHasher()
        self._unknown_user_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def add(self, username: str, display_name: str, role: str, password: str,
            teams: Iterable[str] = ()) -> StaffUser:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise StaffError("the username must be 2-60 characters: lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise StaffError(f"the role must be one of: {', '.join(ROLES)}")
        if not display_name.strip():
            raise StaffError("the display name is empty (citizens see it next to each reply)")
        self._check_password(username, password)
        now = self.clock()
        try:
            with session_scope(self.url) as session:
                row = StaffUserRow(username=username, display_name=display_name.strip()[:100], role=role,
                                   teams=sorted(set(teams)), password_hash=self.hasher.hash(password), active=True,
                                   created_at=now, password_changed_at=now)
                session.add(row)
                session.flush()
                return StaffUser.of(row)
        except IntegrityError:
            raise StaffError(f"the user '{username}' already exists") from None

    @staticmethod
    def _check_password(username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
        if username in password.lower():
            raise StaffError("the password must not contain the username")

    def set_password(self, username: str, password: str) -> None:
        self._check_password(username, password)
        with session_scope(self.url) as session:
            row = self._row(session, username)
            row.password_hash, row.password_changed_at = self.hasher.hash(password), self.clock()
            self._end_sessions(session, row.id)

    def set_active(self, username: str, active: bool) -> None:
        with session_scope(self.url) as session:
            row = self._row(session, username)
            row.active = active
            if not active:
                self._end_sessions(session, row.id)

    def _row(self, session: object, username: str) -> StaffUserRow:
        row = session.execute(select(StaffUserRow).where(  # type: ignore[attr-defined]
            StaffUserRow.username == username.strip().lower())).scalar_one_or_none()
        if row is None:
            raise StaffError(f"there is no user '{username}'")
        return row

    def _end_sessions(self, session: object, user_id: int) -> None:
        for row in session.execute(select(StaffSession).where(  # type: ignore[attr-defined]
                StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))).scalars():
            row.ended_at = self.clock()

    def users(self) -> List[StaffUser]:
        with session_scope(self.url) as session:
            rows = session.execute(select(StaffUserRow).order_by(StaffUserRow.username)).scalars().all()
            return [StaffUser.of(row) for row in rows]

    def get(self, username: str) -> Optional[StaffUser]:
        with session_scope(self.url) as session:
            row = session.execute(select(StaffUserRow).where(
                StaffUserRow.username == username.strip().lower())).scalar_one_or_none()
            return StaffUser.of(row) if row else None

    def authenticate(self, username: str, password: str, remote: str) -> StaffUser:
        """The user, or LoginFailed / Throttled. Every attempt is recorded; once throttled, even the
        right password is refused until the minute has passed.

        Parallel attempts cannot slip past the limit: an attempt is first committed as a failure,
        and only then are the failures counted, its own included. Of N attempts racing, the k-th
        to commit counts at least k, so no more than the limit get to try a password. A right
        password turns its row into a success; a throttled attempt removes its row (it neither
        failed nor succeeded)."""
        username, remote = username.strip().lower()[:60], remote[:64]
        now = self.clock()
        attempt = self._record_attempt(username, remote, now)
        if self._over_the_limit(username, remote, now):
            with session_scope(self.url) as session:
                session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt))
            raise Throttled()
        with session_scope(self.url) as session:
            row = session.execute(select(StaffUserRow).where(StaffUserRow.username == username)).scalar_one_or_none()
            known = row is not None and bool(row.active)
            stored = row.password_hash if known else self._unknown_user_hash
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            known = False
        if not known:
            raise LoginFailed()  # its row stays a failure
        with session_scope(self.url) as session:
            session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt).values(succeeded=True))
            row = session.execute(select(StaffUserRow).where(StaffUserRow.username == username)).scalar_one()
            if self.hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self.hasher.hash(password)
            return StaffUser.of(row)

    def _record_attempt(self, username: str, remote: str, now: datetime) -> int:
        """Commit the attempt as a failure (until it proves otherwise); its id."""
        with session_scope(self.url) as session:
            row = LoginAttempt(username=username, remote=remote, at=now, succeeded=False)
            session.add(row)
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT))
            session.flush()
            return int(row.id)

    def _over_the_limit(self, username: str, remote: str, now: datetime) -> bool:
        """Failures in the window, this attempt's own included, above a limit (committed rows only)."""
        with session_scope(self.url) as session:
            failures = select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.at > now - THROTTLE_WINDOW, LoginAttempt.succeeded.is_(False))
            return (session.execute(failures.where(LoginAttempt.username == username)).scalar_one()
                    > FAILURES_PER_USERNAME
                    or session.execute(failures.where(LoginAttempt.remote == remote)).scalar_one()
                    > FAILURES_PER_REMOTE)

    def start_session(self, user: StaffUser) -> Tuple[str, str]:
        """(cookie token, CSRF token) for a new session."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        with session_scope(self.url) as session:
            session.add(StaffSession(token_hash=_digest(token), user_id=user.id, csrf_token=csrf, created_at=now,
                                     last_seen_at=now))
        return token, csrf

    def session(self, token: Optional[str], touch: bool = True) -> Optional[SignedIn]:
        """The signed-in user for a cookie token, if the session is live. `touch`: the person did
        something, so the idle time starts again (a page refreshing itself is not activity)."""
        if not token:
            return None
        now = self.clock()
        with session_scope(self.url) as session:
            row = session.get(StaffSession, _digest(token))
            if row is None or row.ended_at is not None:
                return None
            if now - row.last_seen_at > self.idle_timeout or now - row.created_at > self.max_age:
                row.ended_at = now
                return None
            user = session.get(StaffUserRow, row.user_id)
            if user is None or not user.active:
                row.ended_at = now
                return None
            if touch:
                row.last_seen_at = now
            return SignedIn(StaffUser.of(user), row.csrf_token)

    def end_session(self, token: Optional[str]) -> None:
        if not token:
            return
        with session_scope(self.url) as session:
            row = session.get(StaffSession, _digest(token))
            if row is not None and row.ended_at is None:
                row.ended_at = self.clock()
