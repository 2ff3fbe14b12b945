"""Opening hours: is a centre open now, when does it open next, grouped weekly lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Dict, List, Optional, Tuple

from vecina.kb.model import OpeningHours, Ranges


@dataclass(frozen=True)
class OpenState:
    open_now: bool
    until: Optional[time] = None  # when open now
    next_day: Optional[date] = None  # when closed: the day and time it opens next
    next_time: Optional[time] = None


def ranges_on(hours: OpeningHours, day: date, holidays: Dict[date, object]) -> Ranges:
    if day in hours.exceptions:
        return hours.exceptions[day]
    if day in holidays and not hours.open_on_holidays:
        return ()
    return hours.weekly.get(day.weekday(), ())


def open_state(hours: OpeningHours, now: datetime, holidays: Dict[date, object]) -> OpenState:
    """State at `now` (local time); looks up to two weeks ahead for the next opening."""
    today, clock = now.date(), now.time()
    for current in ranges_on(hours, today, holidays):
        if current.start <= clock < current.end:
            return OpenState(True, until=current.end)
    for offset in range(0, 15):
        day = today + timedelta(days=offset)
        for current in ranges_on(hours, day, holidays):
            if offset > 0 or current.start > clock:
                return OpenState(False, next_day=day, next_time=current.start)
    return OpenState(False)


def weekly_groups(hours: OpeningHours) -> List[Tuple[int, int, Ranges]]:
    """Consecutive weekdays with identical hours: [(first_day, last_day, ranges)], closed days left out."""
    groups: List[Tuple[int, int, Ranges]] = []
    for day in range(7):
        ranges = hours.weekly.get(day, ())
        if not ranges:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == ranges:
            groups[-1] = (groups[-1][0], day, ranges)
        else:
            groups.append((day, day, ranges))
    return groups


def format_ranges(ranges: Ranges) -> str:
    return ", ".join(f"{r.start:%H:%M}–{r.end:%H:%M}" for r in ranges)
