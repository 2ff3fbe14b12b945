"""Staff accounts: argon2id hashes, roles, throttled sign-in, server-side sessions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from typing import List

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from vecina.db import session_scope
from vecina.db.models import StaffUser as StaffUserRow
from vecina.services.staff import FAILURES_PER_REMOTE, FAILURES_PER_USERNAME, LoginFailed, StaffDirectory, StaffError, \
    Throttled
from vecina.settings import ROOT

PASSWORD = "una contraseña larga"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def staff(database: str, clock: Clock) -> StaffDirectory:
    return StaffDirectory(database, clock=clock)


def test_passwords_are_stored_as_argon2id_hashes(staff: StaffDirectory, database: str) -> None:
    user = staff.add("Ana", "Ana García", "agent", PASSWORD, ["citizen-office"])
    assert (user.username, user.role, user.teams) == ("ana", "agent", ("citizen-office",))
    with session_scope(database) as session:
        stored = session.execute(select(StaffUserRow.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert staff.authenticate(" ANA ", PASSWORD, "10.0.0.1") == user


@pytest.mark.parametrize("username, role, password, problem", [
    ("a", "agent", PASSWORD, "username"),
    ("ana garcía", "agent", PASSWORD, "username"),
    ("ana", "boss", PASSWORD, "role"),
    ("ana", "agent", "corta", "at least 12"),
    ("ana", "agent", "ana-1234567890", "must not contain the username"),
])
def test_bad_accounts_are_refused_with_a_reason(staff: StaffDirectory, username: str, role: str, password: str,
                                                problem: str) -> None:
    with pytest.raises(StaffError, match=problem):
        staff.add(username, "Ana", role, password)


def test_a_username_is_taken_once(staff: StaffDirectory) -> None:
    staff.add("ana", "Ana", "agent", PASSWORD)
    with pytest.raises(StaffError, match="already exists"):
        staff.add("ANA", "Otra Ana", "admin", PASSWORD)


def test_roles_decide_what_a_user_may_do(staff: StaffDirectory) -> None:
    agent = staff.add("ana", "Ana", "agent", PASSWORD, ["citizen-office"])
    supervisor = staff.add("sara", "Sara", "supervisor", PASSWORD, ["citizen-office"])
    admin = staff.add("root", "Root", "admin", PASSWORD)
    assert agent.serves("citizen-office") and not agent.serves("social-services")
    assert supervisor.serves("social-services")  # supervisors see every team
    assert [u.can("assign") for u in (agent, supervisor, admin)] == [False, True, True]
    assert [u.can("audit") for u in (agent, supervisor, admin)] == [False, False, True]


def test_wrong_passwords_are_throttled_per_user_and_per_address(staff: StaffDirectory, clock: Clock) -> None:
    staff.add("ana", "Ana", "agent", PASSWORD)
    staff.add("pau", "Pau", "agent", PASSWORD)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            staff.authenticate("ana", "not the password", "10.0.0.1")
    with pytest.raises(Throttled):
        staff.authenticate("ana", PASSWORD, "10.0.0.2")  # another address does not help
    assert staff.authenticate("pau", PASSWORD, "10.0.0.1").username == "pau"  # other users can still sign in
    clock.now += timedelta(seconds=61)
    assert staff.authenticate("ana", PASSWORD, "10.0.0.1").username == "ana"

    for attempt in range(20):  # guessing across many usernames from one address
        with pytest.raises(LoginFailed):
            staff.authenticate(f"nobody{attempt}", "guess", "10.0.0.9")
    with pytest.raises(Throttled):
        staff.authenticate("pau", PASSWORD, "10.0.0.9")


def attempt_all_at_once(staff: StaffDirectory, attempts: List[tuple]) -> List[str]:
    """Each (username, password, address) in its own thread, released together: what each got."""
    outcomes: List[str] = []
    barrier = threading.Barrier(len(attempts))

    def attempt(username: str, password: str, remote: str) -> None:
        barrier.wait()
        try:
            staff.authenticate(username, password, remote)
            outcomes.append("signed in")
        except LoginFailed:
            outcomes.append("failed")
        except Throttled:
            outcomes.append("throttled")

    threads = [threading.Thread(target=attempt, args=arguments) for arguments in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(attempts), "an attempt neither failed nor was throttled"
    return outcomes


def test_parallel_wrong_passwords_get_no_more_tries_than_the_limit(database: str, clock: Clock) -> None:
    staff = StaffDirectory(database, clock=clock, hasher=PasswordHasher(time_cost=2, memory_cost=16384))
    staff.add("ana", "Ana", "agent", PASSWORD)
    outcomes = attempt_all_at_once(staff, [("ana", f"guess number {i}", f"10.0.1.{i}") for i in range(20)])
    # under load every attempt of the burst may be counted before any is judged: all are refused
    assert outcomes.count("failed") <= FAILURES_PER_USERNAME, outcomes
    assert outcomes.count("failed") + outcomes.count("throttled") == 20
    tried = outcomes.count("failed")
    for _ in range(10):  # more guesses, one by one: the burst and these together stay within the limit
        try:
            staff.authenticate("ana", "one more guess", "10.0.1.99")
            pytest.fail("a wrong password signed in")
        except LoginFailed:
            tried += 1
        except Throttled:
            pass
    assert tried == FAILURES_PER_USERNAME
    with pytest.raises(Throttled):
        staff.authenticate("ana", PASSWORD, "10.0.2.1")
    clock.now += timedelta(seconds=61)
    assert staff.authenticate("ana", PASSWORD, "10.0.2.1").username == "ana"


def test_parallel_guesses_from_one_address_get_no_more_tries_than_the_limit(database: str, clock: Clock) -> None:
    staff = StaffDirectory(database, clock=clock, hasher=PasswordHasher(time_cost=2, memory_cost=16384))
    staff.add("pau", "Pau", "agent", PASSWORD)
    outcomes = attempt_all_at_once(staff, [(f"user{i}", "guess", "10.0.0.9") for i in range(FAILURES_PER_REMOTE * 2)])
    assert outcomes.count("failed") <= FAILURES_PER_REMOTE, outcomes
    tried = outcomes.count("failed")
    for attempt in range(FAILURES_PER_REMOTE):
        try:
            staff.authenticate(f"other{attempt}", "guess", "10.0.0.9")
        except LoginFailed:
            tried += 1
        except Throttled:
            pass
    assert tried == FAILURES_PER_REMOTE
    with pytest.raises(Throttled):
        staff.authenticate("pau", PASSWORD, "10.0.0.9")
    assert staff.authenticate("pau", PASSWORD, "10.0.0.10").username == "pau"


def test_a_right_password_does_not_count_as_a_failure(staff: StaffDirectory) -> None:
    staff.add("ana", "Ana", "agent", PASSWORD)
    for _ in range(FAILURES_PER_USERNAME - 1):
        with pytest.raises(LoginFailed):
            staff.authenticate("ana", "not the password", "10.0.0.1")
    for _ in range(3):
        assert staff.authenticate("ana", PASSWORD, "10.0.0.1").username == "ana"
    with pytest.raises(LoginFailed):
        staff.authenticate("ana", "not the password", "10.0.0.1")
    with pytest.raises(Throttled):  # five failures now: the sixth attempt waits
        staff.authenticate("ana", PASSWORD, "10.0.0.1")
    with pytest.raises(Throttled):  # and a throttled attempt is not a failure of its own, nor a success
        staff.authenticate("ana", PASSWORD, "10.0.0.1")


def test_unknown_and_disabled_users_fail_like_a_wrong_password(staff: StaffDirectory) -> None:
    staff.add("ana", "Ana", "agent", PASSWORD)
    staff.set_active("ana", False)
    for username in ("ana", "nobody"):
        with pytest.raises(LoginFailed):
            staff.authenticate(username, PASSWORD, "10.0.0.1")


def test_sessions_end_on_logout_idle_age_password_change_and_disabling(staff: StaffDirectory, clock: Clock) -> None:
    user = staff.add("ana", "Ana", "agent", PASSWORD)
    token, csrf = staff.start_session(user)
    assert staff.session(token).csrf_token == csrf and staff.session("forged") is None
    staff.end_session(token)
    assert staff.session(token) is None

    idle, _ = staff.start_session(user)
    clock.now += timedelta(minutes=29)
    assert staff.session(idle) is not None
    clock.now += timedelta(minutes=31)
    assert staff.session(idle) is None

    long, _ = staff.start_session(user)
    for _ in range(25):  # active all day: still ends after 12 hours
        clock.now += timedelta(minutes=29)
        staff.session(long)
    assert staff.session(long) is None

    for change in (lambda: staff.set_password("ana", "otra contraseña larga"), lambda: staff.set_active("ana", False)):
        live, _ = staff.start_session(user)
        change()
        assert staff.session(live) is None


def test_an_outdated_hash_is_upgraded_at_sign_in(database: str, clock: Clock) -> None:
    weak = StaffDirectory(database, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=8192))
    weak.add("ana", "Ana", "agent", PASSWORD)
    StaffDirectory(database, clock=clock).authenticate("ana", PASSWORD, "10.0.0.1")
    with session_scope(database) as session:
        stored = session.execute(select(StaffUserRow.password_hash)).scalar_one()
    assert PasswordHasher().check_needs_rehash(stored) is False


def test_the_users_command_reads_the_password_from_stdin_never_the_arguments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, VECINA_DATABASE_URL=f"sqlite:///{tmp_path / 'vecina.db'}", PYTHONPATH=str(ROOT))

    def vecina(*args: str, password: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vecina.cli", "users", *args], cwd=ROOT, env=env,
                              input=password + "\n", capture_output=True, text=True)

    added = vecina("add", "ana", "--name", "Ana García", "--role", "supervisor", "--password-stdin", password=PASSWORD)
    assert added.returncode == 0 and "user ana added (supervisor, every team)" in added.stdout
    refused = vecina("add", "ana", "--password-stdin", password=PASSWORD)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    short = vecina("add", "pau", "--password-stdin", password="short")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    unknown_team = vecina("add", "pau", "--team", "nowhere", "--password-stdin", password=PASSWORD)
    assert unknown_team.returncode == 1 and "nowhere" in unknown_team.stderr
    assert vecina("disable", "ana").returncode == 0
    listed = vecina("list").stdout
    assert "ana\tsupervisor\t*\tdisabled\tAna García" in listed and PASSWORD not in listed
