"""The day a citizen asks for, in free text (es, ca, va): expected values written by hand.

Today is Wednesday 2026-11-25 unless a case says otherwise. This week runs Monday 23 to Sunday 29
November; next week Monday 30 November to Sunday 6 December.
"""

from __future__ import annotations

from datetime import date
from typing import Optional

import pytest

from vecina.services.dates import AFTERNOON, MORNING, DateRequest, understand_date

TODAY = date(2026, 11, 25)
M, A = MORNING, AFTERNOON


def day(iso: str, part: Optional[str] = None) -> DateRequest:
    return DateRequest(day=date.fromisoformat(iso), part_of_day=part)


def days(start: str, end: Optional[str], part: Optional[str] = None) -> DateRequest:
    return DateRequest(start=date.fromisoformat(start), end=date.fromisoformat(end) if end else None,
                       part_of_day=part)


def first(part: Optional[str] = None) -> DateRequest:
    return DateRequest(first_available=True, part_of_day=part)


NEXT_WEEK = days("2026-11-30", "2026-12-06")
THIS_WEEK = days("2026-11-25", "2026-11-29")

SPANISH = [
    ("el lunes por la tarde", day("2026-11-30", A)),
    ("mañana", day("2026-11-26")),
    ("Mañana por la mañana", day("2026-11-26", M)),
    ("mañana de mañana", day("2026-11-26", M)),
    ("por la mañana", first(M)),
    ("de mañana, si puede ser", first(M)),
    ("a las 10 de la mañana", first(M)),
    ("hoy", day("2026-11-25")),
    ("hoy por la tarde", day("2026-11-25", A)),
    ("esta tarde", day("2026-11-25", A)),
    ("pasado mañana", day("2026-11-27")),
    ("ayer", day("2026-11-24")),
    ("el martes", day("2026-12-01")),
    ("martes", day("2026-12-01")),
    ("LUNES", day("2026-11-30")),
    ("el miércoles", day("2026-12-02")),                       # strictly after today
    ("miercoles por la tarde", day("2026-12-02", A)),
    ("el jueves que viene", day("2026-11-26")),
    ("el próximo viernes", day("2026-11-27")),
    ("el martes de la semana que viene", day("2026-12-01")),
    ("el jueves de la semana que viene", day("2026-12-03")),
    ("la semana que viene", NEXT_WEEK),
    ("la próxima semana por la tarde", days("2026-11-30", "2026-12-06", A)),
    ("esta semana", THIS_WEEK),
    ("a partir del lunes", days("2026-11-30", None)),
    ("a partir de mañana", days("2026-11-26", None)),
    ("15/12", day("2026-12-15")),
    ("15-12", day("2026-12-15")),
    ("15/12/2026", day("2026-12-15")),
    ("15.12.26", day("2026-12-15")),
    ("el 15 de diciembre", day("2026-12-15")),
    ("el 3 de enero", day("2027-01-03")),
    ("el 10 de setiembre", day("2027-09-10")),
    ("el 20 de noviembre", day("2026-11-20")),                 # 5 days ago: the caller says it is past
    ("el lunes 30 de noviembre a las 10:30", day("2026-11-30")),
    ("el día 15", day("2026-12-15")),                          # the 15th has gone: next month's
    ("el dia 30", day("2026-11-30")),
    ("el jueves 17", day("2026-12-17")),                       # the number decides
    ("dentro de 3 días", day("2026-11-28")),
    ("en tres días", day("2026-11-28")),
    ("lo antes posible", first()),
    ("cuanto antes", first()),
    ("el primer hueco que haya", first()),
    ("me da igual", first()),
    ("el que sea", first()),
    ("a primera hora", first(M)),
    ("Pues el miércoles, si puede ser por la mañana", day("2026-12-02", M)),
    ("mañana no, el viernes", day("2026-11-27")),
    ("por la tarde no puedo", first(M)),
    ("del lunes al miércoles", days("2026-11-30", "2026-12-02")),
    ("hasta el viernes", days("2026-11-25", "2026-11-27")),
    ("buenas tardes, el martes", day("2026-12-01")),           # a greeting, not an afternoon
]

CATALAN = [
    ("dilluns a la tarda", day("2026-11-30", A)),
    ("demà", day("2026-11-26")),
    ("dema al mati", day("2026-11-26", M)),
    ("demà a primera hora", day("2026-11-26", M)),
    ("demà passat", day("2026-11-27")),
    ("passat demà", day("2026-11-27")),
    ("avui", day("2026-11-25")),
    ("avui a la tarda", day("2026-11-25", A)),
    ("aquesta tarda", day("2026-11-25", A)),
    ("aquest matí", day("2026-11-25", M)),
    ("ahir", day("2026-11-24")),
    ("dimarts que ve", day("2026-12-01")),
    ("DIMARTS QUE VE", day("2026-12-01")),
    ("el dimarts vinent", day("2026-12-01")),
    ("el pròxim dijous", day("2026-11-26")),
    ("el proper divendres", day("2026-11-27")),
    ("dimecres", day("2026-12-02")),
    ("dimarts de la setmana que ve", day("2026-12-01")),
    ("dijous de la setmana vinent", day("2026-12-03")),
    ("la setmana que ve", NEXT_WEEK),
    ("la setmana vinent", NEXT_WEEK),
    ("la pròxima setmana", NEXT_WEEK),
    ("aquesta setmana", THIS_WEEK),
    ("a partir de dilluns", days("2026-11-30", None)),
    ("des de dijous", days("2026-11-26", None)),
    ("a partir de demà", days("2026-11-26", None)),
    ("el 15/12 a les 10", day("2026-12-15")),
    ("15 de desembre", day("2026-12-15")),
    ("el 3 de gener", day("2027-01-03")),
    ("1 d'abril", day("2027-04-01")),
    ("el 3 de març", day("2027-03-03")),
    ("el dia 15", day("2026-12-15")),
    ("dijous 17", day("2026-12-17")),
    ("d'aquí a 3 dies", day("2026-11-28")),
    ("en tres dies", day("2026-11-28")),
    ("dins de cinc dies", day("2026-11-30")),
    ("com més aviat millor", first()),
    ("quan abans millor", first()),
    ("el primer forat", first()),
    ("m'és igual", first()),
    ("qualsevol dia", first()),
    ("pel matí", first(M)),
    ("a la tarda", first(A)),
    ("doncs demà pel matí, si pot ser", day("2026-11-26", M)),
    ("a ser possible el dijous, per favor", day("2026-11-26")),
    ("de dilluns a dimecres", days("2026-11-30", "2026-12-02")),
    ("fins divendres", days("2026-11-25", "2026-11-27")),
    ("no puc fins dilluns", days("2026-11-30", None)),
    ("el dilluns no, el dimarts", day("2026-12-01")),
    ("per la tarda no", first(M)),
]

VALENCIAN = [
    ("hui", day("2026-11-25")),
    ("huí", day("2026-11-25")),
    ("hui de matí", day("2026-11-25", M)),
    ("hui de vesprada", day("2026-11-25", A)),
    ("esta vesprada", day("2026-11-25", A)),
    ("este matí", day("2026-11-25", M)),
    ("dema", day("2026-11-26")),
    ("demà de matí", day("2026-11-26", M)),
    ("demà de vesprada", day("2026-11-26", A)),
    ("despús-demà", day("2026-11-27")),
    ("abans d'ahir", day("2026-11-23")),
    ("dimecres que ve", day("2026-12-02")),
    ("dimecres", day("2026-12-02")),
    ("este dijous", day("2026-11-26")),
    ("dilluns de vesprada", day("2026-11-30", A)),
    ("el divendres que ve de matí", day("2026-11-27", M)),
    ("dimarts de la setmana que ve", day("2026-12-01")),
    ("dimecres que ve a les 10", day("2026-12-02")),
    ("la setmana que ve", NEXT_WEEK),
    ("la setmana que ve per la vesprada", days("2026-11-30", "2026-12-06", A)),
    ("esta setmana", THIS_WEEK),
    ("a partir de dilluns", days("2026-11-30", None)),
    ("des de demà", days("2026-11-26", None)),
    ("el 3 de gener", day("2027-01-03")),
    ("15 de desembre", day("2026-12-15")),
    ("1 d'abril", day("2027-04-01")),
    ("el 15/12 de vesprada", day("2026-12-15", A)),
    ("el dia 15", day("2026-12-15")),
    ("el dia 1", day("2026-12-01")),
    ("dijous dia 17", day("2026-12-17")),
    ("d'ací a tres dies", day("2026-11-28")),
    ("d'ací a una setmana", day("2026-12-02")),
    ("en huit dies", day("2026-12-03")),
    ("com més prompte millor", first()),
    ("el més prompte possible", first()),
    ("quan siga", first()),
    ("me dona igual", first()),
    ("de vesprada", first(A)),
    ("a la vesprada", first(A)),
    ("de matí", first(M)),
    ("pel matí, a ser possible", first(M)),
    ("hui no, demà", day("2026-11-26")),
    ("la vesprada no puc", first(M)),
    ("fins dijous", days("2026-11-25", "2026-11-26")),
    ("del dilluns al dimecres", days("2026-11-30", "2026-12-02")),
]

NOTHING = [
    "", "hola", "gràcies", "👍", "no sé", "no ho sé", "calle mayor 15", "carrer major 15",
    "vivo en el número 3", "tengo 3 hijos", "el 15", "a las 10.30", "hoy no",
    "31/02", "45/13", "el 30 de febrero", "el dia 45",
]


@pytest.mark.parametrize("text, expected", SPANISH)
def test_spanish(text: str, expected: DateRequest) -> None:
    assert understand_date(text, TODAY) == expected


@pytest.mark.parametrize("text, expected", CATALAN)
def test_catalan(text: str, expected: DateRequest) -> None:
    assert understand_date(text, TODAY) == expected


@pytest.mark.parametrize("text, expected", VALENCIAN)
def test_valencian(text: str, expected: DateRequest) -> None:
    assert understand_date(text, TODAY) == expected


@pytest.mark.parametrize("text", NOTHING)
def test_no_day_understood(text: str) -> None:
    assert understand_date(text, TODAY) is None


@pytest.mark.parametrize("today, text, expected", [
    ("2026-12-28", "el 3 de enero", day("2027-01-03")),          # year end: next year's
    ("2026-12-28", "3/1", day("2027-01-03")),
    ("2026-12-28", "el 31 de desembre", day("2026-12-31")),
    ("2026-12-28", "28/12", day("2026-12-28")),                  # today
    ("2026-12-28", "27/11", day("2026-11-27")),                  # 31 days ago: still this year's, past
    ("2026-12-28", "26/11", day("2027-11-26")),                  # 32 days ago: next year's
    ("2026-12-20", "15/12", day("2026-12-15")),                  # a past day the caller rejects
    ("2026-12-20", "15/11", day("2027-11-15")),
    ("2026-12-28", "el dia 2", day("2027-01-02")),
    ("2026-12-28", "la semana que viene", days("2027-01-04", "2027-01-10")),   # today is Monday
    ("2026-12-28", "el lunes", day("2027-01-04")),
    ("2026-12-20", "esta semana", days("2026-12-20", "2026-12-20")),         # today is Sunday
    ("2026-12-20", "la setmana que ve", days("2026-12-21", "2026-12-27")),
    ("2026-12-20", "dilluns", day("2026-12-21")),
    ("2027-02-05", "el dia 31", day("2027-03-31")),               # February has no 31st
    ("2028-03-10", "el 29 de febrero", day("2028-02-29")),
])
def test_other_days(today: str, text: str, expected: DateRequest) -> None:
    assert understand_date(text, date.fromisoformat(today)) == expected


@pytest.mark.parametrize("text, expected", SPANISH + CATALAN + VALENCIAN)
def test_one_kind_of_answer(text: str, expected: DateRequest) -> None:
    request = understand_date(text, TODAY)
    assert request is not None
    assert [request.first_available, request.day is not None, request.start is not None].count(True) == 1
