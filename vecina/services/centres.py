"""Centres and offices: find them by name or by the citizen's address, and describe them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from vecina import LANGUAGES
from vecina.kb.model import Centre, District, KnowledgeBase, Street
from vecina.services.geo import point_in_district
from vecina.services.hours import OpenState, format_ranges, open_state, weekly_groups
from vecina.text import best_matches, fold, names_in_text

# Street types and function words people add or omit: "c/ de la pau" ~ "carrer de la pau" ~ "pau".
GENERIC_WORDS = frozenset(
    "c cl calle carrer carrar av avd avda avenida avinguda pl pza plaza placa plaça pg pº paseo passeig "
    "cami camino ctra carretera travesia travessera trv ronda rda glorieta via de del dels la las les "
    "el els los l d en numero num n no nº n.º y i".split()
)
STREET_TYPES = frozenset(
    "c cl calle carrer av avd avda avenida avinguda pl pza plaza placa pg paseo passeig cami camino "
    "ctra carretera travesia travessera ronda rda glorieta".split()
)
POSTCODE = re.compile(r"\b(\d{5})\b")
NUMBER = re.compile(r"(?<![\d.,])(\d{1,4})(?![\d.,])")
COORDINATES = re.compile(r"(-?\d{1,2}\.\d{2,})\s*[,; ]\s*(-?\d{1,3}\.\d{2,})")

FOUND = "found"
NEED_ADDRESS = "need_address"
NEED_NUMBER = "need_number"
NEED_STREET = "need_street"  # postcode shared by several districts
STREET_NOT_FOUND = "street_not_found"
POSTCODE_NOT_FOUND = "postcode_not_found"
OUTSIDE = "outside"


def core_name(text: str) -> str:
    return " ".join(word for word in fold(text).split() if word not in GENERIC_WORDS)


@dataclass
class AddressResult:
    status: str
    district: Optional[District] = None
    street: Optional[Street] = None
    postcode: Optional[str] = None
    street_text: Optional[str] = None
    suggestions: List[Street] = field(default_factory=list)


@dataclass
class AddressQuery:
    text: str = ""
    street: Optional[str] = None  # entity value (surface form or kb id)
    street_number: Optional[str] = None
    postcode: Optional[str] = None
    district: Optional[str] = None
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    known_street: Optional[str] = None  # street id remembered from a previous turn


class CentreDirectory:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._street_cores: Dict[str, str] = {}  # core name -> street id
        for street in kb.streets.values():
            for name in (street.name, *street.variants):
                core = core_name(name)
                if core:
                    self._street_cores.setdefault(core, street.id)
        self._district_labels = {fold(d.name[lang]): d.id for d in kb.districts.values() for lang in LANGUAGES}
        self._centre_labels: Dict[str, str] = {}
        for centre in kb.centres.values():
            for lang in LANGUAGES:
                self._centre_labels[fold(centre.name[lang])] = centre.id
                for synonym in centre.synonyms[lang]:
                    self._centre_labels.setdefault(fold(synonym), centre.id)

    # --- centres by name -------------------------------------------------------------------
    def find_centre(self, entity_value: Optional[str], text: str) -> Optional[Centre]:
        """A centre named in the message; a district name stands for the centre serving it."""
        if entity_value and entity_value in self.kb.centres:
            return self.kb.centres[entity_value]
        if entity_value and entity_value in self.kb.districts:
            return self.kb.centres.get(self.kb.districts[entity_value].centre)
        if entity_value:
            matches = best_matches(fold(entity_value), {k: k for k in self._centre_labels}, cutoff=85)
            if matches:
                return self.kb.centres[self._centre_labels[matches[0][0]]]
        for query in filter(None, (entity_value, text)):
            folded = fold(query)
            found = sorted(names_in_text(folded, self._centre_labels), key=lambda item: (-item[1], -len(item[0])))
            if found:
                return self.kb.centres[self._centre_labels[found[0][0]]]
            district = self._district_in(folded)
            if district:
                return self.kb.centres.get(district.centre)
        return None

    def centre_for_district(self, district: District) -> Centre:
        return self.kb.centres[district.centre]

    def listed_centres(self) -> List[Centre]:
        order = {"citizen_office": 0, "social_services": 1, "emergency_social_service": 2}
        return sorted(self.kb.centres.values(), key=lambda c: (order[c.kind], c.id))

    # --- address -> district ------------------------------------------------------------------
    def resolve(self, query: AddressQuery) -> AddressResult:
        if query.latitude is None:
            coordinates = COORDINATES.search(query.text or "")
            if coordinates:
                query.latitude, query.longitude = float(coordinates.group(1)), float(coordinates.group(2))
        if query.latitude is not None and query.longitude is not None:
            return self._by_location(query.latitude, query.longitude)

        text_wo_codes = POSTCODE.sub(" ", query.text or "")
        entity_postcode = query.postcode if query.postcode and POSTCODE.fullmatch(query.postcode) else None
        postcode = entity_postcode or _first(POSTCODE.findall(query.text or ""))  # "3" is a house number
        street, street_text, suggestions = self._street(query, text_wo_codes)
        number = _number(query.street_number) or (_number_near_street(text_wo_codes) if street else None)

        district = self._district_entity(query.district) or self._district_in(fold(query.text or ""))
        if street is not None and district is not None and number is None and not query.street:
            district_words = {w for lang in LANGUAGES for w in fold(district.name[lang]).split()}
            if not STREET_TYPES.intersection(set(fold(query.text or "").split()) - district_words):
                street = None  # "vivo en La Creu": the district, unless they said "carrer" or a number
        if street is not None:
            districts = street.districts
            if len(districts) == 1:
                return AddressResult(FOUND, self.kb.districts[districts[0]], street, postcode)
            if postcode:
                in_postcode = [d for d in districts if postcode in self.kb.districts[d].postcodes]
                if len(in_postcode) == 1 and number is None:
                    return AddressResult(FOUND, self.kb.districts[in_postcode[0]], street, postcode)
            if number is not None:
                for segment in street.segments:
                    if segment.contains(number):
                        return AddressResult(FOUND, self.kb.districts[segment.district], street, postcode)
            return AddressResult(NEED_NUMBER, street=street, postcode=postcode)

        if district is not None:
            return AddressResult(FOUND, district)

        if postcode:
            districts = [d for d in self.kb.districts.values() if postcode in d.postcodes]
            if not districts:
                return AddressResult(POSTCODE_NOT_FOUND, postcode=postcode)
            if len(districts) == 1:
                return AddressResult(FOUND, districts[0], postcode=postcode)
            return AddressResult(NEED_STREET, postcode=postcode)

        if street_text:
            return AddressResult(STREET_NOT_FOUND, street_text=street_text, suggestions=suggestions)
        return AddressResult(NEED_ADDRESS)

    def _by_location(self, lat: float, lon: float) -> AddressResult:
        for ident, polygons in self.kb.polygons.items():
            if point_in_district(polygons, lon, lat):
                return AddressResult(FOUND, self.kb.districts[ident])
        return AddressResult(OUTSIDE)

    def _street(self, query: AddressQuery, text: str) -> Tuple[Optional[Street], Optional[str], List[Street]]:
        """(street, what the citizen wrote as a street when not found, suggestions)."""
        if query.street and query.street in self.kb.streets:
            return self.kb.streets[query.street], None, []
        if query.street:
            core = core_name(query.street)
            street = self._street_exact(core)
            if street is not None:
                return street, None, []
            suggestions = self._street_fuzzy(core)
            if suggestions and suggestions[0][1] >= 90 and (len(suggestions) == 1 or suggestions[1][1] < 90):
                return self.kb.streets[suggestions[0][0]], None, []
            in_text = self._street_in(core_name(text))  # the extractor may have cut the name short
            if in_text is not None:
                return in_text, None, []
            return None, query.street, [self.kb.streets[s] for s, _ in suggestions[:3]]
        text_core = core_name(text)
        street = self._street_in(text_core)
        if street is not None:
            return street, None, []
        if query.known_street and query.known_street in self.kb.streets:
            return self.kb.streets[query.known_street], None, []
        return None, None, []

    def _street_exact(self, core: str) -> Optional[Street]:
        ident = self._street_cores.get(core)
        return self.kb.streets[ident] if ident else None

    def _street_in(self, text_core: str) -> Optional[Street]:
        """The longest street name that appears as whole words in the message."""
        padded = f" {' '.join(w for w in text_core.split() if not w.isdigit())} "
        best: Optional[str] = None
        for core in self._street_cores:
            if f" {core} " in padded and (best is None or len(core) > len(best)):
                best = core
        return self.kb.streets[self._street_cores[best]] if best else None

    def _street_fuzzy(self, core: str) -> List[Tuple[str, float]]:
        if not core:
            return []
        results = process.extract(core, list(self._street_cores), scorer=fuzz.WRatio, limit=8, score_cutoff=75)
        ranked: Dict[str, float] = {}
        for label, score, _ in results:
            ident = self._street_cores[label]
            ranked[ident] = max(score, ranked.get(ident, 0.0))
        return sorted(ranked.items(), key=lambda item: -item[1])

    def _district_entity(self, value: Optional[str]) -> Optional[District]:
        if not value:
            return None
        if value in self.kb.districts:
            return self.kb.districts[value]
        matches = best_matches(fold(value), {k: k for k in self._district_labels}, cutoff=85)
        return self.kb.districts[self._district_labels[matches[0][0]]] if matches else None

    def _district_in(self, folded_text: str) -> Optional[District]:
        padded = f" {folded_text} "
        best = None
        for label, ident in self._district_labels.items():
            for variant in {label, core_name(label)}:
                if variant and len(variant) >= 4 and f" {variant} " in padded:
                    if best is None or len(variant) > len(best[0]):
                        best = (variant, ident)
        return self.kb.districts[best[1]] if best else None

    # --- presentation -------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(ZoneInfo(self.kb.municipality.timezone))

    def state(self, centre: Centre, now: Optional[datetime] = None) -> OpenState:
        return open_state(centre.hours, now or self.now(), self.kb.municipality.holidays)


def centre_variables(centre: Centre, language: str, weekday_names: List[str], closed_word: str) -> Dict[str, str]:
    lines = []
    for first, last, ranges in weekly_groups(centre.hours):
        days = weekday_names[first] if first == last else f"{weekday_names[first]} – {weekday_names[last]}"
        lines.append(f"{days}: {format_ranges(ranges)}")
    return {
        "centre_name": centre.name[language],
        "address": centre.address,
        "postcode": centre.postcode,
        "phone": centre.phone,
        "email": centre.email,
        "hours": "\n".join(lines) or closed_word,
        "accessibility": centre.accessibility[language],
    }


def _first(items: List[str]) -> Optional[str]:
    return items[0] if items else None


def _number(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    digits = re.findall(r"\d+", str(value))
    return int(digits[0]) if digits else None


def _number_near_street(text: str) -> Optional[int]:
    numbers = NUMBER.findall(text)
    return int(numbers[0]) if numbers else None
