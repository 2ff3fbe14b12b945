"""Typed view of the knowledge base, built by `vecina.kb.build` from YAML or from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Dict, List, Optional, Tuple

Localized = Dict[str, str]
LocalizedList = Dict[str, List[str]]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CENTRE_KINDS = ("social_services", "citizen_office", "emergency_social_service")
CHANNELS = ("in_person", "online", "phone")
CATEGORIES = ("social_services", "citizen_services")
PARITIES = ("odd", "even", "all")


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


Ranges = Tuple[TimeRange, ...]


@dataclass
class OpeningHours:
    weekly: Dict[int, Ranges]  # 0 = Monday; a missing day is closed
    exceptions: Dict[date, Ranges]  # an empty tuple means closed that day
    open_on_holidays: bool = False


@dataclass
class EmergencyContact:
    id: str
    phone: str
    label: Localized


@dataclass
class Municipality:
    name: Localized
    website: str
    e_office_url: str
    privacy_url: str
    timezone: str
    phone: str
    phone_full: str
    phone_hours: Localized
    emergency_contacts: List[EmergencyContact]
    holidays: Dict[date, Localized]


@dataclass
class District:
    id: str
    name: Localized
    postcodes: List[str]
    centre: str


@dataclass
class Segment:
    start: int
    end: int
    parity: str
    district: str
    postcode: Optional[str]

    def contains(self, number: int) -> bool:
        if not self.start <= number <= self.end:
            return False
        return self.parity == "all" or (number % 2 == 1) == (self.parity == "odd")


@dataclass
class Street:
    id: str
    name: str
    variants: List[str]
    postcode: Optional[str]
    segments: List[Segment]

    @property
    def districts(self) -> List[str]:
        return sorted({segment.district for segment in self.segments})


@dataclass
class Centre:
    id: str
    kind: str
    name: Localized
    synonyms: LocalizedList
    address: str
    street: Optional[str]
    postcode: str
    phone: str
    email: str
    lat: float
    lon: float
    hours: OpeningHours
    accessibility: Localized


@dataclass
class Document:
    name: Localized
    note: Optional[Localized]


@dataclass
class Procedure:
    id: str
    category: str
    popularity: int
    name: Localized
    synonyms: LocalizedList
    summary: Localized
    requirements: LocalizedList
    documents: List[Document]
    channels: List[str]
    appointment_required: bool
    where: Localized
    online_url: Optional[str]
    served_at: str
    fee: Localized
    processing_time: Localized
    legal_title: Localized
    legal_url: str


Ring = List[Tuple[float, float]]  # (lon, lat) pairs


@dataclass
class Team:
    """Staff who answer handed-off conversations: when they work, and what comes to them."""

    id: str
    name: Localized
    hours: OpeningHours
    default: bool  # takes every ticket no other team claims
    intents: List[str]  # tickets raised by these intents (urgent_help, complaint, ...)
    procedure_categories: List[str]  # tickets raised while discussing a procedure of these categories


@dataclass
class StaffTopics:
    """Topics that always go to a person, whatever the bot could answer."""

    intents: List[str] = field(default_factory=list)
    procedures: List[str] = field(default_factory=list)


@dataclass
class CannedReply:
    """A ready-made reply staff can send from the console; `teams` empty means every team."""

    id: str
    title: Localized  # the button label
    text: Localized  # the message, plain text
    teams: List[str]


@dataclass
class AppointmentService:
    """Something citizens can book: its name, length, and the procedure whose documents to bring."""

    id: str
    name: Localized
    minutes: int
    procedure: Optional[str] = None
    synonyms: LocalizedList = field(default_factory=dict)  # other ways citizens name it


@dataclass
class AppointmentOffice:
    """A centre that gives appointments: when, and how many desks serve each service at once."""

    id: str
    centre: str
    hours: OpeningHours
    desks: Dict[str, int]  # service id -> desks
    team: Optional[str] = None  # the staff team (teams.yml) that keeps its desk: who sees it in the console


@dataclass
class BookingRules:
    horizon_days: int = 45  # how far ahead citizens can book
    min_notice_minutes: int = 120  # how close to the time they still can
    reminder_answer_minutes: int = 1420  # how long a reminder's Confirm/Cancel buttons work
    offer_answer_minutes: int = 180  # how long before a freed time offered from the waiting list goes to the next


@dataclass
class KnowledgeBase:
    municipality: Municipality
    districts: Dict[str, District] = field(default_factory=dict)
    polygons: Dict[str, List[List[Ring]]] = field(default_factory=dict)  # polygons of rings
    streets: Dict[str, Street] = field(default_factory=dict)
    centres: Dict[str, Centre] = field(default_factory=dict)
    procedures: Dict[str, Procedure] = field(default_factory=dict)
    webchat: Dict[str, Localized] = field(default_factory=dict)
    teams: Dict[str, Team] = field(default_factory=dict)
    always_to_staff: StaffTopics = field(default_factory=StaffTopics)
    canned_replies: Dict[str, CannedReply] = field(default_factory=dict)
    appointment_services: Dict[str, AppointmentService] = field(default_factory=dict)
    appointment_offices: Dict[str, AppointmentOffice] = field(default_factory=dict)
    booking: BookingRules = field(default_factory=BookingRules)
