"""Which team gets a ticket, and when it is next at work (weekends, holidays, short days)."""

from __future__ import annotations

from datetime import datetime

import pytest

from vecina.services.handoff import always_to_staff, availability, team_for


@pytest.mark.parametrize("now, team, expected", [
    ("2026-12-04 14:59", "social-services", "open"),
    ("2026-12-04 15:00", "social-services", "2026-12-07 08:00"),       # Friday afternoon -> Monday
    ("2026-12-04 18:59", "citizen-office", "open"),                    # the office works Friday afternoons
    ("2026-12-04 19:00", "citizen-office", "2026-12-07 08:00"),
    ("2026-12-05 10:00", "citizen-office", "2026-12-07 08:00"),        # Saturday
    ("2026-12-06 23:30", "social-services", "2026-12-07 08:00"),       # Sunday night (and a holiday)
    ("2026-12-07 07:59", "social-services", "2026-12-07 08:00"),       # Monday, just before
    ("2026-12-07 19:00", "social-services", "2026-12-09 08:00"),       # Tuesday 8 is a holiday
    ("2026-12-08 11:00", "citizen-office", "2026-12-09 08:00"),
    ("2026-12-24 08:30", "social-services", "2026-12-24 09:00"),       # Christmas Eve: 09:00-13:00
    ("2026-12-24 12:59", "social-services", "open"),
    ("2026-12-24 13:00", "social-services", "2026-12-28 08:00"),       # 25 holiday, then the weekend
    ("2026-12-31 13:00", "citizen-office", "2027-01-04 08:00"),        # 1 January holiday, weekend
    ("2027-01-05 19:30", "citizen-office", "2027-01-07 08:00"),        # 6 January holiday
])
def test_next_opening_time(kb, now: str, team: str, expected: str) -> None:
    moment = datetime.strptime(now, "%Y-%m-%d %H:%M")
    state = availability(kb, kb.teams[team], moment)
    if expected == "open":
        assert state.open_now
    else:
        assert not state.open_now and state.next_opening == datetime.strptime(expected, "%Y-%m-%d %H:%M")


@pytest.mark.parametrize("intent, procedure, team", [
    ("urgent_help", None, "social-services"),
    ("complaint", "inclusion-income", "citizen-office"),       # the intent decides first
    ("human_handoff", "inclusion-income", "social-services"),  # a social-services procedure
    ("human_handoff", "census-certificate", "citizen-office"),
    ("human_handoff", None, "citizen-office"),                 # the default team
])
def test_tickets_go_to_the_right_team(kb, intent: str, procedure, team: str) -> None:
    assert team_for(kb, intent, procedure).id == team


def test_topics_that_always_go_to_a_person(kb) -> None:
    assert always_to_staff(kb, "complaint") and always_to_staff(kb, "procedure_info", "gender-violence-support")
    assert not always_to_staff(kb, "procedure_info", "rent-aid") and not always_to_staff(kb, None)
