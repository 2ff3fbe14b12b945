"""Build the typed knowledge base from editors' YAML, reporting every problem as file:line.

One code path serves both uses: `validate_dir` collects all problems of a `kb/` folder for
editors, and `build_from_documents` rebuilds the same objects from the documents stored in
the database (where any problem is a bug, so it raises).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from vecina import LANGUAGES
from vecina.kb.model import (
    CATEGORIES,
    CENTRE_KINDS,
    CHANNELS,
    PARITIES,
    WEEKDAYS,
    AppointmentOffice,
    AppointmentService,
    BookingRules,
    CannedReply,
    Centre,
    District,
    Document,
    EmergencyContact,
    KnowledgeBase,
    Municipality,
    OpeningHours,
    Procedure,
    Ranges,
    Ring,
    Segment,
    StaffTopics,
    Street,
    Team,
    TimeRange,
)

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
POSTCODE_PATTERN = re.compile(r"^\d{5}$")
RANGE_PATTERN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
URL_PATTERN = re.compile(r"^https?://\S+$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

KB_FILES = ("municipality.yml", "districts.yml", "districts.geojson", "streets.yml", "centres.yml", "webchat.yml",
            "teams.yml", "canned_replies.yml", "appointments.yml")
INTENT_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
CANNED_TITLE_MAX = 40
CANNED_TEXT_MAX = 1000
WEBCHAT_TEXTS = ("title", "intro", "input_label", "send", "language_label", "connecting", "offline", "you",
                 "assistant")


@dataclass(frozen=True)
class Problem:
    file: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 1}: {self.message}"


class KbError(Exception):
    """Raised when stored documents do not build (a bug or a hand-edited database)."""


@dataclass
class Reporter:
    """Collects problems; knows which file it reads so problems carry file and line."""

    file: str = ""
    problems: List[Problem] = field(default_factory=list)

    def error(self, node: Any, key: Any, message: str) -> None:
        self.problems.append(Problem(self.file, _line(node, key), message))

    def at(self, file: str) -> "Reporter":
        self.file = file
        return self


class StrictReporter(Reporter):
    def error(self, node: Any, key: Any, message: str) -> None:
        raise KbError(f"{self.file}: {message}")


def _line(node: Any, key: Any) -> Optional[int]:
    """1-based line of `node[key]` (or of `node` itself when key is None) if known."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return lc.line + 1
        if isinstance(node, list):
            return lc.item(key)[0] + 1
        return lc.key(key)[0] + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return lc.line + 1


class Fields:
    """Typed access to one mapping's fields, reporting missing, mistyped and unknown ones."""

    def __init__(self, report: Reporter, node: Any, where: str, allowed: Tuple[str, ...]):
        self.report = report
        self.node = node if isinstance(node, dict) else {}
        self.where = where
        if not isinstance(node, dict):
            report.error(node, None, f"{where}: expected a mapping of fields")
        for key in self.node:
            if key not in allowed:
                report.error(node, key, f"{where}: unknown field '{key}' (allowed: {', '.join(allowed)})")

    def error(self, key: Any, message: str) -> None:
        self.report.error(self.node, key, f"{self.where}: {message}")

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.node or self.node[key] is None:
            if required:
                self.report.error(self.node, None, f"{self.where}: missing field '{key}'")
            return None
        return self.node[key]

    def text(self, key: str, required: bool = True, pattern: Optional[re.Pattern] = None,
             describe: str = "") -> Optional[str]:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"field '{key}' must be a non-empty text")
            return None
        if pattern is not None and not pattern.match(value.strip()):
            self.error(key, f"field '{key}' is not {describe or 'valid'}: '{value}'")
            return None
        return value.strip()

    def ident(self, key: str = "id") -> Optional[str]:
        return self.text(key, pattern=ID_PATTERN, describe="an id (lowercase words joined by '-')")

    def number(self, key: str, low: float, high: float, integer: bool = False) -> Optional[float]:
        value = self._get(key, True)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            self.error(key, f"field '{key}' must be {kind} between {low:g} and {high:g}")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"field '{key}' must be true or false")
            return default
        return value

    def choice(self, key: str, options: Tuple[str, ...]) -> Optional[str]:
        value = self.text(key)
        if value is not None and value not in options:
            self.error(key, f"field '{key}' must be one of {', '.join(options)}, not '{value}'")
            return None
        return value

    def items(self, key: str, required: bool = True) -> List[Any]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, f"field '{key}' must be a list")
            return []
        return value

    def strings(self, key: str, required: bool = True) -> List[str]:
        values = self.items(key, required)
        result = []
        for index, item in enumerate(values):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                self.report.error(values, index, f"{self.where}: '{key}' items must be texts")
                continue
            result.append(item.strip())
        return result

    def localized(self, key: str, required: bool = True) -> Optional[Dict[str, str]]:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(key, f"field '{key}' must have texts for {', '.join(LANGUAGES)}")
            return None
        result = {}
        for language in LANGUAGES:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                where_line = value if language in value else self.node
                where_key = language if language in value else key
                self.report.error(where_line, where_key,
                                  f"{self.where}: field '{key}' has no '{language}' text")
            else:
                result[language] = text.strip()
        for extra in value:
            if extra not in LANGUAGES:
                self.report.error(value, extra, f"{self.where}: field '{key}' has unknown language '{extra}'")
        return result if len(result) == len(LANGUAGES) else None

    def localized_list(self, key: str, required: bool = True) -> Dict[str, List[str]]:
        value = self._get(key, required)
        if value is None:
            return {language: [] for language in LANGUAGES}
        if not isinstance(value, dict):
            self.error(key, f"field '{key}' must have lists for {', '.join(LANGUAGES)}")
            return {language: [] for language in LANGUAGES}
        result = {}
        for language in LANGUAGES:
            texts = Fields(self.report, value, f"{self.where}: '{key}'", LANGUAGES).strings(language, required)
            result[language] = texts
        return result

    def date(self, key: str) -> Optional[date]:
        value = self._get(key, True)
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        if value is not None:
            self.error(key, f"field '{key}' must be a date like 2026-12-25, not '{value}'")
        return None


def parse_ranges(text: str) -> Tuple[Optional[Ranges], str]:
    """Parse "09:00-14:00, 16:00-18:30" or "closed"; returns (ranges, error message)."""
    if text.strip().lower() == "closed":
        return (), ""
    ranges = []
    for part in text.split(","):
        match = RANGE_PATTERN.match(part.strip())
        if not match:
            return None, f"'{part.strip()}' is not a range like 09:00-14:00"
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            return None, f"'{part.strip()}' is not a valid time of day"
        start, end = time(h1, m1), time(h2, m2)
        if end <= start:
            return None, f"'{part.strip()}' ends before it starts"
        if ranges and start < ranges[-1].end:
            return None, f"'{part.strip()}' overlaps or precedes the previous range"
        ranges.append(TimeRange(start, end))
    return tuple(ranges), ""


def _hours(report: Reporter, fields: Fields, where: str) -> OpeningHours:
    weekly = {}
    hours_node = fields._get("hours", True)
    if hours_node is not None:
        hours = Fields(report, hours_node, f"{where}: hours", WEEKDAYS)
        for index, day in enumerate(WEEKDAYS):
            text = hours.text(day, required=False)
            if text is None:
                continue
            ranges, error = parse_ranges(text)
            if ranges is None:
                hours.error(day, f"{day}: {error}")
            elif ranges:
                weekly[index] = ranges
    exceptions = {}
    for item in fields.items("exceptions", required=False):
        exception = Fields(report, item, f"{where}: exception", ("date", "hours"))
        day = exception.date("date")
        text = exception.text("hours")
        if day is None or text is None:
            continue
        ranges, error = parse_ranges(text)
        if ranges is None:
            exception.error("hours", error)
        elif day in exceptions:
            exception.error("date", f"date {day} is listed twice")
        else:
            exceptions[day] = ranges
    return OpeningHours(weekly, exceptions, fields.flag("open_on_holidays", False))


def build_municipality(report: Reporter, node: Any) -> Optional[Municipality]:
    fields = Fields(report, node, "municipality", (
        "name", "website", "e_office_url", "privacy_url", "timezone", "phone", "phone_full",
        "phone_hours", "emergency_contacts", "holidays"))
    contacts = []
    for item in fields.items("emergency_contacts"):
        contact = Fields(report, item, "emergency contact", ("id", "phone", "label"))
        ident, phone, label = contact.ident(), contact.text("phone"), contact.localized("label")
        if ident and phone and label:
            contacts.append(EmergencyContact(ident, phone, label))
    holidays = {}
    for item in fields.items("holidays"):
        holiday = Fields(report, item, "holiday", ("date", "name"))
        day, name = holiday.date("date"), holiday.localized("name")
        if day and name:
            holidays[day] = name
    timezone = fields.text("timezone")
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            fields.error("timezone", f"unknown time zone '{timezone}'")
            timezone = None
    values = dict(
        name=fields.localized("name"),
        website=fields.text("website", pattern=URL_PATTERN, describe="a web address"),
        e_office_url=fields.text("e_office_url", pattern=URL_PATTERN, describe="a web address"),
        privacy_url=fields.text("privacy_url", pattern=URL_PATTERN, describe="a web address"),
        timezone=timezone,
        phone=fields.text("phone"),
        phone_full=fields.text("phone_full"),
        phone_hours=fields.localized("phone_hours"),
    )
    if None in values.values() or not contacts:
        return None
    return Municipality(emergency_contacts=contacts, holidays=holidays, **values)


def build_district(report: Reporter, node: Any) -> Optional[District]:
    fields = Fields(report, node, "district", ("id", "name", "postcodes", "centre"))
    ident = fields.ident()
    fields.where = f"district '{ident}'"
    postcodes = fields.strings("postcodes")
    for index, postcode in enumerate(postcodes):
        if not POSTCODE_PATTERN.match(postcode):
            report.error(fields.node.get("postcodes"), index, f"district '{ident}': '{postcode}' is not a 5-digit postcode")
    name, centre = fields.localized("name"), fields.ident("centre")
    if not (ident and name and centre and postcodes):
        return None
    return District(ident, name, postcodes, centre)


def build_street(report: Reporter, node: Any) -> Optional[Street]:
    fields = Fields(report, node, "street", ("id", "name", "variants", "postcode", "segments"))
    ident = fields.ident()
    fields.where = f"street '{ident}'"
    postcode = fields.text("postcode", required=False, pattern=POSTCODE_PATTERN, describe="a 5-digit postcode")
    segments = []
    for item in fields.items("segments"):
        segment = Fields(report, item, f"street '{ident}': segment", ("from", "to", "parity", "district", "postcode"))
        start, end = segment.number("from", 0, 99999, integer=True), segment.number("to", 0, 99999, integer=True)
        parity, district = segment.choice("parity", PARITIES), segment.ident("district")
        own_postcode = segment.text("postcode", required=False, pattern=POSTCODE_PATTERN, describe="a 5-digit postcode")
        if start is not None and end is not None and end < start:
            segment.error("to", f"'to' ({end}) is lower than 'from' ({start})")
            continue
        if None not in (start, end, parity, district):
            segments.append(Segment(int(start), int(end), parity, district, own_postcode or postcode))
    for index, first in enumerate(segments):
        for second in segments[index + 1:]:
            same_side = "all" in (first.parity, second.parity) or first.parity == second.parity
            if same_side and first.start <= second.end and second.start <= first.end:
                fields.error("segments", f"segments {first.start}-{first.end} ({first.parity}) and "
                             f"{second.start}-{second.end} ({second.parity}) overlap")
    name = fields.text("name")
    variants = fields.strings("variants", required=False)
    if not (ident and name and segments):
        return None
    return Street(ident, name, variants, postcode, segments)


def build_centre(report: Reporter, node: Any) -> Optional[Centre]:
    fields = Fields(report, node, "centre", (
        "id", "kind", "name", "synonyms", "address", "street", "postcode", "phone", "email",
        "location", "hours", "exceptions", "open_on_holidays", "accessibility"))
    ident = fields.ident()
    fields.where = f"centre '{ident}'"
    location = Fields(report, fields._get("location", True) or {}, f"centre '{ident}': location", ("lat", "lon"))
    lat, lon = location.number("lat", -90, 90), location.number("lon", -180, 180)
    values = dict(
        kind=fields.choice("kind", CENTRE_KINDS),
        name=fields.localized("name"),
        address=fields.text("address"),
        postcode=fields.text("postcode", pattern=POSTCODE_PATTERN, describe="a 5-digit postcode"),
        phone=fields.text("phone"),
        email=fields.text("email", pattern=EMAIL_PATTERN, describe="an e-mail address"),
        accessibility=fields.localized("accessibility"),
    )
    synonyms = fields.localized_list("synonyms", required=False)
    street = fields.ident("street") if "street" in fields.node else None
    hours = _hours(report, fields, f"centre '{ident}'")
    if ident is None or None in values.values() or lat is None or lon is None:
        return None
    return Centre(id=ident, synonyms=synonyms, street=street, lat=float(lat), lon=float(lon), hours=hours, **values)


def build_team(report: Reporter, node: Any) -> Optional[Team]:
    fields = Fields(report, node, "team", ("id", "name", "default", "intents", "procedure_categories", "hours",
                                           "exceptions", "open_on_holidays"))
    ident = fields.ident()
    fields.where = f"team '{ident}'"
    name = fields.localized("name")
    intents = fields.strings("intents", required=False)
    for intent in intents:
        if not INTENT_PATTERN.match(intent):
            fields.error("intents", f"'{intent}' is not an intent name (lower case, digits and _)")
    categories = fields.strings("procedure_categories", required=False)
    for category in categories:
        if category not in CATEGORIES:
            fields.error("procedure_categories", f"'{category}' is not a procedure category "
                                                 f"({', '.join(CATEGORIES)})")
    hours = _hours(report, fields, f"team '{ident}'")
    if ident is None or name is None:
        return None
    return Team(ident, name, hours, fields.flag("default", False), intents, categories)


def build_teams(report: Reporter, node: Any) -> Tuple[Dict[str, Team], StaffTopics]:
    teams = _collect(report, node, "teams", build_team, "teams.yml", ("always_to_staff",))
    if teams and sum(team.default for team in teams.values()) != 1:
        report.error(node, "teams", "exactly one team must say 'default: true' (it takes every other ticket)")
    topics = StaffTopics()
    if isinstance(node, dict) and node.get("always_to_staff") is not None:
        always = Fields(report, node["always_to_staff"], "always_to_staff", ("intents", "procedures"))
        topics = StaffTopics(always.strings("intents", required=False), always.strings("procedures", required=False))
        for intent in topics.intents:
            if not INTENT_PATTERN.match(intent):
                always.error("intents", f"'{intent}' is not an intent name (lower case, digits and _)")
    return teams, topics


def _limited(fields: Fields, key: str, limit: int) -> Optional[Dict[str, str]]:
    """A localised text whose every language is at most `limit` characters long."""
    texts = fields.localized(key)
    if texts is None:
        return None
    too_long = {language: len(text) for language, text in texts.items() if len(text) > limit}
    for language, length in too_long.items():
        fields.report.error(fields.node[key], language, f"{fields.where}: field '{key}' in '{language}' is "
                            f"{length} characters long (at most {limit})")
    return None if too_long else texts


def build_canned_reply(report: Reporter, node: Any) -> Optional[CannedReply]:
    fields = Fields(report, node, "canned reply", ("id", "teams", "title", "text"))
    ident = fields.ident()
    fields.where = f"canned reply '{ident}'"
    title = _limited(fields, "title", CANNED_TITLE_MAX)
    text = _limited(fields, "text", CANNED_TEXT_MAX)
    teams = fields.strings("teams", required=False)
    if ident is None or title is None or text is None:
        return None
    return CannedReply(ident, title, text, teams)


def build_canned_replies(report: Reporter, node: Any) -> Dict[str, CannedReply]:
    return _collect(report, node, "canned_replies", build_canned_reply, "canned_replies.yml")


def build_appointment_service(report: Reporter, node: Any) -> Optional[AppointmentService]:
    fields = Fields(report, node, "appointment service", ("id", "name", "synonyms", "minutes", "procedure"))
    ident = fields.ident()
    fields.where = f"appointment service '{ident}'"
    name = fields.localized("name")
    synonyms = fields.localized_list("synonyms", required=False)
    minutes = fields.number("minutes", 5, 240, integer=True)
    procedure = fields.text("procedure", required=False)
    if ident is None or name is None or minutes is None:
        return None
    return AppointmentService(ident, name, int(minutes), procedure, synonyms)


def build_appointment_office(report: Reporter, node: Any) -> Optional[AppointmentOffice]:
    fields = Fields(report, node, "appointment office", ("id", "centre", "team", "hours", "exceptions",
                                                         "open_on_holidays", "services"))
    ident = fields.ident()
    fields.where = f"appointment office '{ident}'"
    centre = fields.text("centre")
    team = fields.text("team")
    hours = _hours(report, fields, f"appointment office '{ident}'")
    desks: Dict[str, int] = {}
    for item in fields.items("services"):
        offered = Fields(report, item, f"appointment office '{ident}': service", ("service", "desks"))
        service, count = offered.text("service"), offered.number("desks", 1, 50, integer=True)
        if service in desks:
            offered.error("service", f"service '{service}' is listed twice")
        elif service is not None and count is not None:
            desks[service] = int(count)
    if ident is None or centre is None:
        return None
    return AppointmentOffice(ident, centre, hours, desks, team)


def build_appointments(report: Reporter, node: Any) -> Tuple[Dict[str, AppointmentService],
                                                              Dict[str, AppointmentOffice], BookingRules]:
    services = _collect(report, node, "services", build_appointment_service, "appointments.yml",
                        ("offices", "booking"))
    offices = _collect(report, node, "offices", build_appointment_office, "appointments.yml",
                       ("services", "booking"))
    rules = BookingRules()
    if isinstance(node, dict) and node.get("booking") is not None:
        limits = {"horizon_days": (1, 366), "min_notice_minutes": (0, 7 * 24 * 60),
                  "reminder_answer_minutes": (10, 7 * 24 * 60), "offer_answer_minutes": (10, 7 * 24 * 60)}
        booking = Fields(report, node["booking"], "booking", tuple(limits))
        values = {key: booking.number(key, low, high, integer=True) if key in booking.node else None
                  for key, (low, high) in limits.items()}
        rules = BookingRules(**{key: int(value) for key, value in values.items() if value is not None})
    return services, offices, rules


def build_procedure(report: Reporter, node: Any) -> Optional[Procedure]:
    fields = Fields(report, node, "procedure", (
        "id", "category", "popularity", "name", "synonyms", "summary", "requirements", "documents",
        "how_to_apply", "served_at", "fee", "processing_time", "legal_basis"))
    ident = fields.ident()
    fields.where = f"procedure '{ident}'"
    documents = []
    for item in fields.items("documents"):
        document = Fields(report, item, f"procedure '{ident}': document", ("name", "note"))
        name, note = document.localized("name"), document.localized("note", required=False)
        if name:
            documents.append(Document(name, note))
    apply = Fields(report, fields._get("how_to_apply", True) or {}, f"procedure '{ident}': how_to_apply",
                   ("channels", "appointment_required", "where", "online_url"))
    channels = apply.strings("channels")
    for index, channel in enumerate(channels):
        if channel not in CHANNELS:
            report.error(apply.node.get("channels"), index,
                         f"procedure '{ident}': channel '{channel}' must be one of {', '.join(CHANNELS)}")
    online_url = apply.text("online_url", required="online" in channels, pattern=URL_PATTERN, describe="a web address")
    legal = Fields(report, fields._get("legal_basis", True) or {}, f"procedure '{ident}': legal_basis", ("title", "url"))
    requirements = fields.localized_list("requirements")
    for language, items in requirements.items():
        if not items:
            fields.error("requirements", f"field 'requirements' has no '{language}' items")
    values = dict(
        category=fields.choice("category", CATEGORIES),
        popularity=fields.number("popularity", 0, 100, integer=True),
        name=fields.localized("name"),
        summary=fields.localized("summary"),
        where=apply.localized("where"),
        served_at=fields.text("served_at"),
        fee=fields.localized("fee"),
        processing_time=fields.localized("processing_time"),
        legal_title=legal.localized("title"),
        legal_url=legal.text("url", pattern=URL_PATTERN, describe="a web address"),
    )
    if ident is None or None in values.values() or not documents or not channels:
        return None
    return Procedure(
        id=ident, synonyms=fields.localized_list("synonyms", required=False), requirements=requirements,
        documents=documents, channels=channels, appointment_required=apply.flag("appointment_required", False),
        online_url=online_url, **values)


def build_polygons(report: Reporter, node: Any) -> Dict[str, List[List[Ring]]]:
    """GeoJSON FeatureCollection -> district id -> list of polygons (each a list of rings)."""
    fields = Fields(report, node, "districts.geojson", ("type", "features", "name", "crs"))
    polygons: Dict[str, List[List[Ring]]] = {}
    for feature in fields.items("features"):
        item = Fields(report, feature, "feature", ("type", "properties", "geometry", "id"))
        properties = Fields(report, item._get("properties", True) or {}, "feature properties", ("id", "name"))
        ident = properties.ident()
        geometry = Fields(report, item._get("geometry", True) or {}, f"feature '{ident}': geometry", ("type", "coordinates"))
        kind = geometry.choice("type", ("Polygon", "MultiPolygon"))
        coordinates = geometry._get("coordinates", True)
        if ident is None or kind is None or coordinates is None:
            continue
        try:
            shapes = [coordinates] if kind == "Polygon" else list(coordinates)
            rings = [[[(float(lon), float(lat)) for lon, lat in ring] for ring in shape] for shape in shapes]
        except (TypeError, ValueError):
            geometry.error("coordinates", "coordinates must be [longitude, latitude] pairs")
            continue
        if any(len(ring) < 4 for shape in rings for ring in shape):
            geometry.error("coordinates", "every ring needs at least 4 points (first = last)")
            continue
        if ident in polygons:
            item.error("properties", f"district '{ident}' has two features")
        polygons[ident] = rings
    return polygons


def build_webchat(report: Reporter, node: Any) -> Dict[str, Dict[str, str]]:
    fields = Fields(report, node, "webchat", WEBCHAT_TEXTS)
    texts = {key: fields.localized(key) for key in WEBCHAT_TEXTS}
    return {key: value for key, value in texts.items() if value}


def _collect(report: Reporter, node: Any, key: str, builder: Callable[[Reporter, Any], Any],
             file_label: str, other_keys: Tuple[str, ...] = ()) -> Dict[str, Any]:
    fields = Fields(report, node, file_label, (key, *other_keys))
    result: Dict[str, Any] = {}
    items = fields.items(key)
    for index, item in enumerate(items):
        built = builder(report, item)
        if built is None:
            continue
        if built.id in result:
            report.error(items, index, f"{file_label}: id '{built.id}' is used twice")
        result[built.id] = built
    return result


def check_references(report: Reporter, kb: KnowledgeBase, files: Dict[str, Any]) -> None:
    """Cross-file checks: ids that must exist, postcodes that must agree, points inside polygons."""
    from vecina.services.geo import point_in_district

    report.at("teams.yml")
    teams_node = files.get("teams.yml")
    always = teams_node.get("always_to_staff") if isinstance(teams_node, dict) else None
    for procedure in kb.always_to_staff.procedures:
        if procedure not in kb.procedures:
            report.error(always, "procedures", f"always_to_staff: unknown procedure '{procedure}'")

    report.at("canned_replies.yml")
    reply_nodes = _index_nodes(files.get("canned_replies.yml"), "canned_replies")
    for reply in kb.canned_replies.values():
        node = reply_nodes.get(reply.id)
        _unknown_ids(report, node, "teams", reply.teams, kb.teams, f"canned reply '{reply.id}': unknown team",
                     "teams.yml")

    report.at("appointments.yml")
    service_nodes = _index_nodes(files.get("appointments.yml"), "services")
    for service in kb.appointment_services.values():
        if service.procedure is not None and service.procedure not in kb.procedures:
            report.error(service_nodes.get(service.id), "procedure",
                         f"appointment service '{service.id}': unknown procedure '{service.procedure}'")
    office_nodes = _index_nodes(files.get("appointments.yml"), "offices")
    for office in kb.appointment_offices.values():
        node = office_nodes.get(office.id) or {}
        if office.centre not in kb.centres:
            report.error(node, "centre", f"appointment office '{office.id}': unknown centre '{office.centre}'")
        if office.team is not None and office.team not in kb.teams:
            report.error(node, "team", f"appointment office '{office.id}': unknown team '{office.team}' "
                                       "(teams.yml)")
        _unknown_ids(report, node, "services", list(office.desks), kb.appointment_services,
                     f"appointment office '{office.id}': unknown service", "appointments.yml")

    report.at("districts.yml")
    district_nodes = _index_nodes(files.get("districts.yml"), "districts")
    for district in kb.districts.values():
        node = district_nodes.get(district.id)
        centre = kb.centres.get(district.centre)
        if centre is None:
            report.error(node, "centre", f"district '{district.id}': unknown centre '{district.centre}'")
        elif centre.kind != "social_services":
            report.error(node, "centre", f"district '{district.id}': centre '{centre.id}' is not a social_services centre")
        if district.id not in kb.polygons:
            report.error(node, "id", f"district '{district.id}' has no polygon in districts.geojson")

    report.at("districts.geojson")
    feature_nodes = files.get("districts.geojson", {}).get("features", []) if files.get("districts.geojson") else []
    for index, ident in enumerate(kb.polygons):
        if ident not in kb.districts:
            report.error(feature_nodes, index if index < len(feature_nodes) else None,
                         f"polygon '{ident}' is not a district in districts.yml")

    report.at("streets.yml")
    street_nodes = _index_nodes(files.get("streets.yml"), "streets")
    for street in kb.streets.values():
        node = street_nodes.get(street.id)
        for segment in street.segments:
            district = kb.districts.get(segment.district)
            if district is None:
                report.error(node, "segments", f"street '{street.id}': unknown district '{segment.district}'")
            elif segment.postcode and segment.postcode not in district.postcodes:
                report.error(node, "segments", f"street '{street.id}': postcode {segment.postcode} is not one "
                             f"of district '{district.id}' postcodes ({', '.join(district.postcodes)})")

    report.at("centres.yml")
    centre_nodes = _index_nodes(files.get("centres.yml"), "centres")
    served = {district.centre for district in kb.districts.values()}
    for centre in kb.centres.values():
        node = centre_nodes.get(centre.id)
        if centre.street and centre.street not in kb.streets:
            report.error(node, "street", f"centre '{centre.id}': unknown street '{centre.street}'")
        if centre.kind == "social_services":
            if centre.id not in served:
                report.error(node, "id", f"centre '{centre.id}' serves no district in districts.yml")
            mine = [d for d in kb.districts.values() if d.centre == centre.id]
            if mine and kb.polygons and not any(
                    point_in_district(kb.polygons.get(d.id, []), centre.lon, centre.lat) for d in mine):
                report.error(node, "location", f"centre '{centre.id}': location is outside the districts it serves")

    for procedure in kb.procedures.values():
        report.at(f"procedures/{procedure.id}.yml")
        node = files.get(f"procedures/{procedure.id}.yml")
        if procedure.served_at != "social_services" and procedure.served_at not in kb.centres:
            report.error(node, "served_at", f"procedure '{procedure.id}': unknown centre '{procedure.served_at}' "
                         "(use 'social_services' or a centre id)")


def _unknown_ids(report: Reporter, node: Any, key: str, ids: List[str], known: Dict[str, Any], problem: str,
                 file: str) -> None:
    """Report each id of the list `node[key]` that `known` lacks, at its own line."""
    items = node.get(key) if isinstance(node, dict) else None
    for index, ident in enumerate(ids):
        if ident not in known:
            report.error(items, index, f"{problem} '{ident}' ({file} has {', '.join(known) or 'none'})")


def _index_nodes(root: Any, key: str) -> Dict[str, Any]:
    if not isinstance(root, dict) or not isinstance(root.get(key), list):
        return {}
    return {item.get("id"): item for item in root[key] if isinstance(item, dict)}


def read_files(kb_dir: Path, report: Reporter, with_lines: bool = True) -> Dict[str, Any]:
    """Parse every kb file; with_lines keeps line information (slower); syntax errors become problems."""
    yaml = YAML(typ="rt") if with_lines else YAML(typ="safe")
    files: Dict[str, Any] = {}
    paths = [kb_dir / name for name in KB_FILES] + sorted((kb_dir / "procedures").glob("*.yml"))
    for path in paths:
        relative = path.relative_to(kb_dir).as_posix()
        report.at(relative)
        if not path.exists():
            report.error(None, None, f"file is missing ({relative})")
            continue
        try:
            files[relative] = yaml.load(path.read_text(encoding="utf-8"))
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else None
            report.problems.append(Problem(relative, line, f"cannot be read: {error.problem or error}"))
        except UnicodeDecodeError:
            report.error(None, None, "is not UTF-8 text")
    return files


def build(files: Dict[str, Any], report: Reporter) -> Optional[KnowledgeBase]:
    """Build the knowledge base from parsed files (ruamel nodes or plain stored documents)."""
    municipality = build_municipality(report.at("municipality.yml"), files.get("municipality.yml") or {})
    districts = _collect(report.at("districts.yml"), files.get("districts.yml") or {}, "districts",
                         build_district, "districts.yml")
    polygons = build_polygons(report.at("districts.geojson"), files.get("districts.geojson") or {})
    streets = _collect(report.at("streets.yml"), files.get("streets.yml") or {}, "streets", build_street, "streets.yml")
    centres = _collect(report.at("centres.yml"), files.get("centres.yml") or {}, "centres", build_centre, "centres.yml")
    procedures = {}
    for name, node in files.items():
        if not name.startswith("procedures/"):
            continue
        report.at(name)
        procedure = build_procedure(report, node)
        if procedure is None:
            continue
        expected = Path(name).stem
        if procedure.id != expected:
            report.error(node, "id", f"procedure id '{procedure.id}' must equal the file name '{expected}'")
        procedures[procedure.id] = procedure
    webchat = build_webchat(report.at("webchat.yml"), files.get("webchat.yml") or {})
    teams, always_to_staff = build_teams(report.at("teams.yml"), files.get("teams.yml") or {})
    canned_replies = build_canned_replies(report.at("canned_replies.yml"), files.get("canned_replies.yml") or {})
    services, offices, booking = build_appointments(report.at("appointments.yml"),
                                                    files.get("appointments.yml") or {})
    if municipality is None:
        return None
    kb = KnowledgeBase(municipality, districts, polygons, streets, centres, procedures, webchat, teams,
                       always_to_staff, canned_replies, services, offices, booking)
    check_references(report, kb, files)
    return kb


def validate_dir(kb_dir: Path) -> Tuple[Optional[KnowledgeBase], List[Problem], Dict[str, Any]]:
    """Fast pass with the C parser; only when something is wrong, a second pass that knows lines."""
    report = Reporter()
    files = read_files(kb_dir, report, with_lines=False)
    kb = build(files, report)
    if report.problems:
        report = Reporter()
        files = read_files(kb_dir, report, with_lines=True)
        kb = build(files, report)
    return kb, report.problems, files


def to_document(node: Any) -> Any:
    """A ruamel node as plain JSON-compatible data (dates become ISO strings)."""
    return json.loads(json.dumps(node, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, time)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def build_from_documents(documents: Dict[str, Any]) -> KnowledgeBase:
    kb = build(documents, StrictReporter())
    if kb is None:
        raise KbError("stored knowledge base is incomplete: run 'vecina kb load'")
    return kb
