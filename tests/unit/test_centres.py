"""Address -> district -> centre, from street and number, postcode, district name or coordinates.

Expectations are derived from the kb itself, so the tests follow the content editors' data.
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from vecina.kb.model import OpeningHours, TimeRange
from vecina.services import centres as search
from vecina.services.centres import AddressQuery, CentreDirectory, centre_variables
from vecina.services.hours import open_state, weekly_groups


@pytest.fixture(scope="module")
def directory(kb) -> CentreDirectory:
    return CentreDirectory(kb)


def _single_district_street(kb):
    return next(s for s in kb.streets.values() if len(s.districts) == 1 and s.variants)


def _split_street(kb):
    return next(s for s in kb.streets.values() if len(s.districts) > 1)


def test_street_in_one_district_needs_no_number(kb, directory: CentreDirectory) -> None:
    street = _single_district_street(kb)
    result = directory.resolve(AddressQuery(text=f"vivo en {street.variants[0].lower()}"))
    assert result.status == search.FOUND
    assert result.district.id == street.districts[0]


def test_split_street_with_number_picks_the_segment(kb, directory: CentreDirectory) -> None:
    street = _split_street(kb)
    for segment in street.segments:
        number = segment.start if segment.parity != "even" or segment.start % 2 == 0 else segment.start + 1
        if segment.parity == "odd" and number % 2 == 0:
            number += 1
        result = directory.resolve(AddressQuery(text=f"{street.name} {number}"))
        assert result.status == search.FOUND, (street.id, number)
        assert result.district.id == segment.district


def test_split_street_without_number_asks_for_it(kb, directory: CentreDirectory) -> None:
    street = _split_street(kb)
    result = directory.resolve(AddressQuery(text=street.name))
    assert result.status == search.NEED_NUMBER and result.street.id == street.id
    follow_up = directory.resolve(AddressQuery(text=str(street.segments[-1].end), known_street=street.id))
    assert follow_up.status == search.FOUND


def test_postcode_of_one_district(kb, directory: CentreDirectory) -> None:
    counts = {}
    for district in kb.districts.values():
        for postcode in district.postcodes:
            counts.setdefault(postcode, []).append(district.id)
    unique = next(code for code, owners in counts.items() if len(owners) == 1)
    shared = next(code for code, owners in counts.items() if len(owners) > 1)
    assert directory.resolve(AddressQuery(text=unique)).district.id == counts[unique][0]
    assert directory.resolve(AddressQuery(text=f"mi codigo postal es el {shared}")).status == search.NEED_STREET
    assert directory.resolve(AddressQuery(text="28001")).status == search.POSTCODE_NOT_FOUND


def test_district_name_in_any_language(kb, directory: CentreDirectory) -> None:
    for language in ("es", "ca", "va"):
        for district in kb.districts.values():
            result = directory.resolve(AddressQuery(text=f"vivo en {district.name[language]}"))
            assert result.status == search.FOUND and result.district.id == district.id, (language, district.id)


def test_coordinates_map_to_the_district(kb, directory: CentreDirectory) -> None:
    for centre in kb.centres.values():
        if centre.kind != "social_services":
            continue
        result = directory.resolve(AddressQuery(latitude=centre.lat, longitude=centre.lon))
        assert result.status == search.FOUND
        assert kb.districts[result.district.id].centre == centre.id
    text = directory.resolve(AddressQuery(text=f"estoy aqui {kb.centres['css-el-grau'].lat}, "
                                               f"{kb.centres['css-el-grau'].lon}"))
    assert text.status == search.FOUND
    assert directory.resolve(AddressQuery(latitude=40.4168, longitude=-3.7038)).status == search.OUTSIDE


def test_unknown_street_gets_suggestions(kb, directory: CentreDirectory) -> None:
    typo = directory.resolve(AddressQuery(text="calle mayorr", street="calle mayorr"))
    assert typo.street is not None and typo.street.id == "carrer-major"  # a typo still finds the street
    missing = directory.resolve(AddressQuery(text="calle de los inventos 5", street="calle de los inventos"))
    assert missing.status == search.STREET_NOT_FOUND
    assert missing.street_text == "calle de los inventos"
    mislabelled = directory.resolve(AddressQuery(text="calle de los pajaritos inventados 3", postcode="3"))
    assert mislabelled.status == search.NEED_ADDRESS  # not "postcode 3 does not exist"


def test_named_centres_and_district_names(kb, directory: CentreDirectory) -> None:
    assert directory.find_centre(None, "a que hora abre la OAC").id.startswith("oac-")
    assert directory.find_centre("el-grau", "").id == "css-el-grau"
    assert directory.find_centre(None, "telefono de servicios sociales de Benimar").id == "css-benimar"
    assert directory.find_centre(None, "hola que tal") is None


WEEK = OpeningHours(
    weekly={0: (TimeRange(time(9), time(14)), TimeRange(time(16), time(18))), 1: (TimeRange(time(9), time(14)),),
            2: (TimeRange(time(9), time(14)),), 3: (TimeRange(time(9), time(14)),), 4: (TimeRange(time(9), time(14)),)},
    exceptions={date(2026, 12, 24): (TimeRange(time(9), time(12)),)},
)
HOLIDAYS = {date(2026, 12, 8): "Inmaculada"}


@pytest.mark.parametrize("now, open_now, until, next_day, next_time", [
    (datetime(2026, 11, 23, 10, 0), True, time(14), None, None),  # Monday morning
    (datetime(2026, 11, 23, 15, 0), False, None, date(2026, 11, 23), time(16)),  # Monday lunch: opens today
    (datetime(2026, 11, 23, 19, 0), False, None, date(2026, 11, 24), time(9)),  # Monday evening: tomorrow
    (datetime(2026, 11, 27, 15, 0), False, None, date(2026, 11, 30), time(9)),  # Friday afternoon: Monday
    (datetime(2026, 12, 7, 19, 0), False, None, date(2026, 12, 9), time(9)),  # the holiday is skipped
    (datetime(2026, 12, 24, 12, 30), False, None, date(2026, 12, 25), time(9)),  # shortened exception day
])
def test_open_state(now, open_now, until, next_day, next_time) -> None:
    state = open_state(WEEK, now, HOLIDAYS)
    assert (state.open_now, state.until, state.next_day, state.next_time) == (open_now, until, next_day, next_time)


def test_weekly_lines_group_equal_days(kb) -> None:
    groups = weekly_groups(WEEK)
    assert groups[0][:2] == (0, 0) and groups[1][:2] == (1, 4)
    variables = centre_variables(kb.centres["css-el-grau"], "va", ["dl", "dt", "dc", "dj", "dv", "ds", "dg"], "tancat")
    assert variables["hours"] and variables["centre_name"] == kb.centres["css-el-grau"].name["va"]
