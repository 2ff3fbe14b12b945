"""The day a citizen wants an appointment, from free text in Spanish, Catalan or Valencian.

Pure Python: "el lunes por la tarde", "dimarts que ve", "hui de matí", "15/12", "el 3 de gener",
"lo antes posible", "la setmana que ve"... become a DateRequest relative to a given `today`.

How it works: the text is folded (lowercase, no accents, numeric dates and clock times taken out),
then ordered rules find mentions (a day, a weekday, a week, a part of the day, "from"/"until"
words, "as soon as possible"...), each rule consuming its words so that later, more general rules
(bare "mañana" = tomorrow) never see what an earlier one took ("por la mañana" = morning).
The mentions are then combined: negated ones ("mañana no", "por la tarde no puedo") are dropped
or flipped, a weekday takes the week it is said with, "del lunes al miércoles" makes a range.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Dict, List, Match, Optional, Pattern, Sequence, Tuple

MORNING, AFTERNOON = "morning", "afternoon"


@dataclass(frozen=True)
class DateRequest:
    first_available: bool = False  # no day or range was named: the first free slot (maybe in part_of_day)
    day: Optional[date] = None  # one specific day (may be in the past: the caller says so)
    start: Optional[date] = None  # a range of days, inclusive; end None = open-ended
    end: Optional[date] = None
    part_of_day: Optional[str] = None  # MORNING | AFTERNOON


def understand_date(text: str, today: date) -> Optional[DateRequest]:
    """None when the text names no day, range, part of day or 'first available'."""
    folded, stored = _normalize(text)
    mentions, final = _scan(folded, today, stored)
    for mention in mentions:
        if mention.kind in _DAYLIKE or mention.kind in ("part", "invalid"):
            mention.negated = _negated(final, mention)
    if any(m.kind == "invalid" and not m.negated for m in mentions):
        return None
    _assign_roles(mentions, final)

    days = _resolve_days(mentions, final, today)
    if days is None:
        return None
    part = _part_of_day(mentions)
    if days != (None, None, None):
        day, start, end = days
        return DateRequest(day=day, start=start, end=end, part_of_day=part)
    if any(m.kind in ("first", "part") for m in mentions):
        return DateRequest(first_available=True, part_of_day=part)
    return None


# ----------------------------------------------------------------------------------- vocabulary

_WEEKDAYS: Dict[str, int] = {
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
    "dilluns": 0, "dimarts": 1, "dimecres": 2, "dijous": 3, "divendres": 4, "dissabte": 5, "diumenge": 6,
}
_MONTHS: Dict[str, int] = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "gener": 1, "febrer": 2, "marc": 3, "maig": 5, "juny": 6, "juliol": 7, "agost": 8, "setembre": 9,
    "novembre": 11, "desembre": 12,
}
# Abbreviations, only after a day number ("15 dic"); "des" is left out: "el dia 3 des de les 9".
_MONTH_ABBREVIATIONS: Dict[str, int] = {
    "ene": 1, "gen": 1, "feb": 2, "mar": 3, "abr": 4, "may": 5, "jun": 6, "jul": 7, "ago": 8,
    "sep": 9, "sept": 9, "set": 9, "oct": 10, "nov": 11, "dic": 12,
}
_NUMBER_WORDS: Dict[str, int] = {
    "un": 1, "una": 1, "uno": 1, "u": 1, "dos": 2, "dues": 2, "tres": 3, "cuatro": 4, "quatre": 4,
    "cinco": 5, "cinc": 5, "seis": 6, "sis": 6, "siete": 7, "set": 7, "ocho": 8, "vuit": 8, "huit": 8,
    "nueve": 9, "nou": 9, "diez": 10, "deu": 10, "quince": 15, "quinze": 15,
    "un par de": 2, "un parell de": 2,
}
# Words a typo is corrected towards (one letter added, dropped, changed or swapped; 6+ letters).
_SPELLED = tuple(word for word in list(_WEEKDAYS) + list(_MONTHS) if len(word) >= 6)

_DAYLIKE = frozenset({"date", "dom", "weekday", "week", "weekend", "month"})
_CONNECTORS = frozenset({"from", "after", "until", "before"})
# Words allowed between a connector or a weekday and the day it applies to.
_TRIVIAL = frozenset({"el", "la", "los", "les", "els", "dia", "de", "del", "d", "l"})
_PAIR_GAPS = frozenset({("a",), ("al",), ("a", "el"), ("y",), ("i",)})
_NEGATIONS = frozenset({"no", "excepto", "excepte", "salvo", "menos", "menys", "tret"})
# "no sé, el lunes", "el lunes no hay problema": a "no" followed by these negates nothing.
_NOT_NEGATING = frozenset({"se", "ho", "lo", "sabria", "sabe", "sap", "hay", "hi", "problema",
                           "importa", "pasa", "passa"})
# "la cita de mañana", "a partir de mañana": here "de mañana" is tomorrow, not "in the morning".
_TOMORROW_BEFORE_DE = frozenset({"partir", "antes", "dia", "cita", "citas", "fecha", "hueco", "huecos",
                                 "turno", "hora", "horas", "desde"})

_FILLER = "\x00"


def _alternatives(words: Sequence[str]) -> str:
    return "|".join(sorted((re.escape(word) for word in words), key=len, reverse=True))


# ---------------------------------------------------------------------------------- normalizing

_APOSTROPHES = re.compile(r"['’‘`´]")
_CLOCK_TIMES = (
    re.compile(r"(?<![\w/.\-])\d{1,2}(?::|h)\d{2}(?: ?(?:h|hs|horas|hores))?\b"),
    re.compile(r"\b(?:las|les|la) \d{1,2}(?:[.,]\d{2})?(?: ?(?:h|hs|horas|hores))?(?![\d/\-]|\.\d)"),
    re.compile(r"(?<![\w/.\-])\d{1,2}(?:[.,]\d{2})? ?(?:h|hs|horas|hores)\b"),
    re.compile(r"(?<![\w/.\-])\d{1,2} (?:y|i) (?:media|mitja|cuarto|quart)\b"),
)
_ISO_DATE = re.compile(r"(?<![\w/.\-])(\d{4})([/\-])(\d{1,2})\2(\d{1,2})(?![\w/\-]|\.\d)")
_NUMERIC_DATE = re.compile(r"(?<![\w/.\-])(\d{1,2})([/\-.])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\w/\-]|\.\d)")
_NOT_A_DATE_AFTER = re.compile(r"\s*(?:dias?|dies|semanas?|setmanes?|meses|mesos|anos|anys|euros?|eur|€|%)\b")
_CLAUSE_BREAKS = re.compile(r"[,;.!?¿¡:()\[\]]+")
_OTHER_SYMBOLS = re.compile(r"[^a-z0-9#,\s]+")
_GREETINGS = re.compile(r"\b(?:buenas|bones|bona) (?:tardes|tarda|vesprades|vesprada|noches|nits|nit)\b")


def _fold(text: str) -> str:
    text = _APOSTROPHES.sub(" ", text.lower().replace("·", ""))
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _normalize(text: str) -> Tuple[str, List[Tuple[str, Any]]]:
    """Folded words separated by single spaces, clause breaks as ",", numeric dates as "#n".

    Returns the text and the stored numeric dates: ("ymd", (year, month, day)) or ("invalid", None).
    """
    folded = _fold(text)
    for pattern in _CLOCK_TIMES:
        folded = pattern.sub(" ", folded)
    stored: List[Tuple[str, Any]] = []

    def keep(kind: str, value: Any) -> str:
        stored.append((kind, value))
        return f" #{len(stored) - 1} "

    def iso(match: Match[str]) -> str:
        return keep("ymd", (int(match.group(1)), int(match.group(3)), int(match.group(4))))

    def numeric(match: Match[str]) -> str:
        if _NOT_A_DATE_AFTER.match(folded, match.end()):
            return match.group(0)
        day, separator, month, year = match.groups()
        if separator == "." and year is None and (int(month) > 12 or int(day) > 31):
            return " "  # a decimal number or a clock time, not a date
        full_year = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
        return keep("ymd", (full_year, int(month), int(day)))

    folded = _ISO_DATE.sub(iso, folded)
    folded = _NUMERIC_DATE.sub(numeric, folded)
    folded = _CLAUSE_BREAKS.sub(" , ", folded)
    folded = _OTHER_SYMBOLS.sub(" ", folded)
    words = [_corrected(word) for word in folded.split()]
    return _GREETINGS.sub(" ", " ".join(words)), stored


def _corrected(word: str) -> str:
    if len(word) < 5 or word in _WEEKDAYS or word in _MONTHS or not word.isalpha():
        return word
    for known in _SPELLED:
        if abs(len(known) - len(word)) <= 1 and _one_edit_apart(word, known):
            return known
    return word


def _one_edit_apart(a: str, b: str) -> bool:
    """True when one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        if len(diffs) != 2 or diffs[1] != diffs[0] + 1:
            return False
        return a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    for i in range(len(longer)):
        if longer[:i] + longer[i + 1:] == shorter:
            return True
    return False


# ------------------------------------------------------------------------------------- mentions

@dataclass
class _Mention:
    start: int
    end: int
    kind: str  # date dom weekday week weekend month invalid part first from after until before
    value: Any = None
    role: Optional[str] = None  # a connector's kind, for the day it applies to
    negated: bool = False


_Found = List[Tuple[str, Any]]
_Handler = Callable[[Match[str], date, str, List[Tuple[str, Any]]], Optional[_Found]]
_RULES: List[Tuple[Pattern[str], _Handler]] = []


def _rule(pattern: str) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        _RULES.append((re.compile(pattern), handler))
        return handler
    return register


def _constant(pattern: str, *found: Tuple[str, Any]) -> None:
    _RULES.append((re.compile(pattern), lambda match, today, work, stored: list(found)))


def _offset(pattern: str, days: int, *found: Tuple[str, Any]) -> None:
    _RULES.append((re.compile(pattern),
                   lambda match, today, work, stored: [("date", today + timedelta(days)), *found]))


def _scan(text: str, today: date, stored: List[Tuple[str, Any]]) -> Tuple[List[_Mention], str]:
    """Mentions in text order, and the text with every consumed span blanked out."""
    work = text
    mentions: List[_Mention] = []
    for pattern, handler in _RULES:
        for match in pattern.finditer(work):
            found = handler(match, today, work, stored)
            if found is None:
                continue
            mentions.extend(_Mention(match.start(), match.end(), kind, value) for kind, value in found)
            work = work[:match.start()] + _FILLER * (match.end() - match.start()) + work[match.end():]
    mentions.sort(key=lambda m: m.start)
    return mentions, work


@_rule(r"#(\d+)")
def _stored_date(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> _Found:
    kind, value = stored[int(match.group(1))]
    if kind == "invalid":
        return [("invalid", None)]
    year, month, day = value
    resolved = _day_and_month(day, month, year, today)
    return [("date", resolved)] if resolved else [("invalid", None)]


_MONTH_WORDS = _alternatives(list(_MONTHS) + list(_MONTH_ABBREVIATIONS))


@_rule(rf"\b(\d{{1,2}}|primero|primer)(?:r|er|o|a)? (?:de |d |del )?({_MONTH_WORDS})\b(?: (?:de |del )?(\d{{4}})\b)?")
def _date_with_month(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> _Found:
    day = 1 if match.group(1).startswith("primer") else int(match.group(1))
    name = match.group(2)
    month = _MONTHS.get(name) or _MONTH_ABBREVIATIONS[name]
    year = int(match.group(3)) if match.group(3) else None
    resolved = _day_and_month(day, month, year, today)
    return [("date", resolved)] if resolved else [("invalid", None)]


_offset(r"\b(?:pasado manana|despues de manana|dema passat|passat dema|despus dema|despusdema|"
        r"despres de dema)\b", 2)
_offset(r"\b(?:anteayer|antier|antes de ayer|abans d ahir|abans ahir|abansdahir|despus ahir)\b", -2)
_offset(r"\b(?:de )?(?:hoy|hui|avui) en (?:ocho|8|vuit|huit) (?:dias|dies)\b", 7)
_offset(r"\b(?:esta|aquesta) (?:tarde|tarda|vesprada)\b", 0, ("part", AFTERNOON))
_offset(r"\b(?:esta|este|aquest|aquesta) (?:manana|mati)\b", 0, ("part", MORNING))
_constant(r"\b(?:tarde o temprano|mas tarde|muy tarde|lo mas tarde)\b")
_constant(r"\b(?:cualquier|qualsevol|alguna|algun|una|otra|altra) (?:manana|mati)\b",
          ("part", MORNING), ("first", None))
_constant(r"\b(?:cualquier|qualsevol|alguna|algun|una|otra|altra) (?:tarde|tarda|vesprada)\b",
          ("part", AFTERNOON), ("first", None))

_SOON = r"(?:antes|abans|pronto|aviat|prompte|rapido|rapid)"
_constant(
    r"\b(?:"
    rf"(?:lo|el|al) (?:mas |mes )?{_SOON}(?: (?:posible|possible))?"
    rf"|(?:cuanto|quan|com|contra|mientras) (?:mas |mes )?{_SOON}"
    r"|tan (?:aviat|prompte|pronto|rapid|rapido) com"
    r"|(?:a )?la (?:mayor|major) (?:brevedad|brevetat)"
    r"|(?:el |la |lo )?(?:primer|primero|primera) (?:hueco|huequito|forat|cita|dia|fecha|data|lliure|libre"
    r"|disponible|que (?:haya|hay|hi haja|hi hagi|hi ha|tengan|tingueu|quede|quedi))"
    r"|(?:da|dona|fa|es|me es|m es|em es) (?:igual|lo mismo|indiferente|indiferent)"
    r"|(?:lo mismo|igual) me da|tant (?:me|se|hi) (?:fa|val)"
    r"|(?:cualquier|qualsevol) (?:dia|fecha|data|momento|moment|hora)|cualquiera|qualsevol"
    r"|(?:el|lo|la) que (?:usted |ustedes |voste |vostes )?(?:sea|sigui|siga|diga|digan|digui|diguen|diguin"
    r"|vulga|vulgui|vulgueu|quiera|quieran|querais|tengan|tingueu|haya|hi haja|hi hagi)"
    r"|(?:cuando|quan) (?:sea|sigui|siga|puedan|podais|pugueu|puguen|quieran|querais|vulgueu|vulguen"
    r"|tengan|tingueu|haya|hi haja|hi hagi|os vaya bien|les vaya bien|us vagi be|us vaja be)"
    r"|(?:sin|sense|no tengo|no tinc) (?:preferencia|preferencias|preferencies)"
    r"|ahora mismo|ara mateix|urgente|urgent|urgentemente|urgentment"
    r")\b",
    ("first", None),
)

_constant(r"\b(?:el |este |aquest |eixe )?(?:fin de semana|finde|cap de setmana)"
          r"(?: (?:que viene|que ve|proximo|proxim|vinent))?\b", ("weekend", None))
_NEXT = r"(?:que viene|que ve|proxima|proxim|propera|proper|vinent|siguiente|seguent|entrant)"
_constant(rf"\b(?:la )?(?:(?:proxima|propera|siguiente|seguent) (?:semana|setmana)|(?:semana|setmana) {_NEXT})\b",
          ("week", "next"))
_constant(r"\b(?:esta|aquesta) (?:semana|setmana)\b", ("week", "this"))
_constant(rf"\b(?:el )?(?:(?:proximo|proxim|proper|siguiente|seguent) mes|mes (?:proximo|{_NEXT}))\b",
          ("month", "next"))
_constant(r"\b(?:este|aquest) mes\b", ("month", "this"))

_COUNT = _alternatives(list(_NUMBER_WORDS))


@_rule(r"\b(?:dentro de|dins de|en|d aqui a|d aqui|daqui a|daqui|d aci a|d aci|daci a|daci|de aqui a|de aqui"
       rf"|aqui a) (\d{{1,3}}|{_COUNT}) (dias?|dies|semanas?|setmanes|setmana)\b")
def _in_days(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> _Found:
    count = match.group(1)
    days = int(count) if count.isdigit() else _NUMBER_WORDS[count]
    if match.group(2).startswith("sem") or match.group(2).startswith("set"):
        days *= 7
    return [("date", today + timedelta(days))]


_constant(r"\b(?:a partir de|a partir del|a partir d|desde|des de|des del|des d)\b", ("from", None))
_constant(r"\b(?:despues de|despues del|despres de|despres del|despres d)\b", ("after", None))
_constant(r"\b(?:hasta|fins a|fins al|fins)\b", ("until", None))
_constant(r"\b(?:antes de|antes del|abans de|abans del|abans d)\b", ("before", None))

_AT = r"(?:(?:por|en|a|de|durante|durant|para|per|pel|al|sobre) )?(?:(?:la|las|les|els|el) )?"
_constant(r"\b(?:a )?primera hora de la (?:tarde|tarda|vesprada)\b", ("part", AFTERNOON))
_constant(r"\b(?:a )?primera hora(?: (?:de la manana|del mati|de mati))?\b", ("part", MORNING))
_constant(r"\b(?:(?:por|en|a|durante|de|para|sobre) )?(?:la|las) mananas?\b|\bmananas\b", ("part", MORNING))


@_rule(r"\bde manana\b")
def _de_manana(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> Optional[_Found]:
    previous = work[:match.start()].split()[-1:]
    if previous and previous[0] in _TOMORROW_BEFORE_DE:
        return None
    return [("part", MORNING)]


_constant(rf"\b{_AT}(?:mati|matins|demati|matinada)\b|\bde bon mati\b|\btemprano\b", ("part", MORNING))
_constant(rf"\b{_AT}(?:tardes?|tarda|vesprada|vesprades|horabaixa|vespre|vespres)\b", ("part", AFTERNOON))

_offset(r"\b(?:hoy|hui|avui)(?: mismo| mateix)?\b", 0)
_offset(r"\b(?:manana|dema)(?: mismo| mateix)?\b", 1)
_offset(r"\b(?:ayer|ahir)\b", -1)

_WEEKDAY_WORDS = _alternatives(list(_WEEKDAYS))
_LAST = ("pasado", "passat")


@_rule(r"\b((?:(?:el|los|els|este|aquest|eixe|ese|proximo|proxim|proper|pasado|passat) ){0,2})"
       rf"({_WEEKDAY_WORDS})"
       r"( (?:que viene|que ve|proximo|proxim|proper|vinent|siguiente|seguent|entrant|pasado|passat))?"
       r"(?: (?:el |dia |el dia )?(\d{1,2})(?:r|er|o)?\b)?")
def _weekday(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> _Found:
    if match.group(4):
        return [("dom", int(match.group(4)))]  # "el jueves 17": the number decides
    words = (match.group(1) + (match.group(3) or "")).split()
    return [("weekday", (_WEEKDAYS[match.group(2)], any(word in _LAST for word in words)))]


@_rule(r"\bdia (\d{1,2})(?:r|er|o)?\b")
def _day_of_month(match: Match[str], today: date, work: str, stored: List[Tuple[str, Any]]) -> _Found:
    return [("dom", int(match.group(1)))]


# ---------------------------------------------------------------------------------- combining

def _words(segment: str) -> List[str]:
    return [word for word in segment.split() if _FILLER not in word]


def _negated(final: str, mention: _Mention) -> bool:
    """"mañana no", "no puedo por la tarde", "excepto el lunes" (within one clause)."""
    window = _words(final[:mention.start].split(",")[-1].split(_FILLER)[-1])[-2:]
    for i, word in enumerate(window):
        if word in _NEGATIONS and (i + 1 == len(window) or window[i + 1] not in _NOT_NEGATING):
            return True
    after = _words(final[mention.end:].split(",")[0])
    return after[:1] == ["no"] and (len(after) == 1 or after[1] not in _NOT_NEGATING)


def _assign_roles(mentions: List[_Mention], final: str) -> None:
    """A connector ("a partir de", "fins", "antes del") gives its role to the day right after it."""
    days = [m for m in mentions if m.kind in _DAYLIKE]
    for connector in (m for m in mentions if m.kind in _CONNECTORS):
        target = next((d for d in days if d.start >= connector.end), None)
        if target is None or target.role or not set(_words(final[connector.end:target.start])) <= _TRIVIAL:
            continue
        role = connector.kind
        if role == "until" and "no" in _words(final[:connector.start].split(",")[-1]):
            role = "from"  # "no puedo hasta el lunes": from Monday
        target.role = role


def _resolve_days(mentions: List[_Mention], final: str, today: date
                  ) -> Optional[Tuple[Optional[date], Optional[date], Optional[date]]]:
    """(day, start, end); (None, None, None) when no day is named; None when a named day is invalid."""
    live = [m for m in mentions if m.kind in _DAYLIKE and not m.negated]
    markers = [m for m in live if m.kind in ("week", "month") and m.role is None]
    week = next((m.value for m in markers if m.kind == "week"), None)
    month = next((m.value for m in markers if m.kind == "month"), None)
    if any(m.kind in ("date", "dom", "weekday") for m in live):
        live = [m for m in live if m not in markers]  # "el martes de la semana que viene"
    live = [m for i, m in enumerate(live) if not (  # "el jueves 17 de diciembre": the date decides
        m.kind == "weekday" and i + 1 < len(live) and live[i + 1].kind in ("date", "dom")
        and set(_words(final[m.end:live[i + 1].start])) <= _TRIVIAL | {","})]
    if not live:
        return None, None, None
    spans = [_span(m, today, week, month) for m in live]
    if any(span is None for span in spans):
        return None
    first, (start, end) = live[0], spans[0]  # type: ignore[misc]
    if len(live) > 1:
        second = live[1]
        gap = tuple(_words(final[first.end:second.start]))
        before = _words(final[:first.start])[-1:]
        if (second.role == "until" and first.role in (None, "from") and set(gap) <= _TRIVIAL | {","}) or (
                gap in _PAIR_GAPS and (first.role == "from" or before in (["de"], ["del"], ["entre"]))):
            anchor = start if second.kind == "weekday" else None
            _, last = _span(second, today, week, month, anchor) or (None, None)
            if last is not None and last >= start:
                return None, start, last
    if first.role == "from":
        return None, start, None
    if first.role == "after":
        return None, end + timedelta(1), None
    if first.role == "until":
        return None, today, end
    if first.role == "before":
        return None, today, start - timedelta(1)
    if first.kind in ("week", "weekend", "month"):
        return None, start, end
    return start, None, None


def _span(mention: _Mention, today: date, week: Optional[str], month: Optional[str],
          anchor: Optional[date] = None) -> Optional[Tuple[date, date]]:
    """First and last day a mention covers; None when it names no real day ("el día 31" of a short month)."""
    monday = today - timedelta(today.weekday())
    kind, value = mention.kind, mention.value
    if kind == "date":
        return value, value
    if kind == "dom":
        found = _day_in_next_month(value, today) if month == "next" else _coming_day_of_month(value, today)
        return (found, found) if found else None
    if kind == "weekday":
        weekday, last = value
        if anchor is not None:
            day = anchor + timedelta((weekday - anchor.weekday()) % 7)
        elif last:
            day = today - timedelta((today.weekday() - weekday) % 7 or 7)
        elif week == "next":
            day = monday + timedelta(7 + weekday)
        elif week == "this":
            day = monday + timedelta(weekday)
        else:
            day = today + timedelta((weekday - today.weekday()) % 7 or 7)
        return day, day
    if kind == "week":
        return (monday + timedelta(7), monday + timedelta(13)) if value == "next" else (today, monday + timedelta(6))
    if kind == "weekend":
        if today.weekday() == 6:
            return today, today
        saturday = today + timedelta(5 - today.weekday())
        return saturday, saturday + timedelta(1)
    first_of_next = _add_months(today.replace(day=1), 1)
    if value == "next":
        return first_of_next, _add_months(first_of_next, 1) - timedelta(1)
    return today, first_of_next - timedelta(1)


def _part_of_day(mentions: List[_Mention]) -> Optional[str]:
    """The one part of the day asked for; a negated one means the other ("por la tarde no puedo")."""
    other = {MORNING: AFTERNOON, AFTERNOON: MORNING}
    parts = {other[m.value] if m.negated else m.value for m in mentions if m.kind == "part"}
    return parts.pop() if len(parts) == 1 else None


# --------------------------------------------------------------------------------- calendar

def _safe_date(year: int, month: int, day: int) -> Optional[date]:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add_months(first: date, months: int) -> date:
    years, month = divmod(first.month - 1 + months, 12)
    return first.replace(year=first.year + years, month=month + 1, day=1)


def _day_and_month(day: int, month: int, year: Optional[int], today: date) -> Optional[date]:
    """A day and month, with the year when one is not given; None for an impossible date.

    Without a year: this year's date if it is today or later, or at most 31 days ago (a past day
    the caller rejects with a message), otherwise the next year's.
    """
    if year is not None:
        return _safe_date(year, month, day)
    if _safe_date(2000, month, day) is None:  # 2000 was a leap year: only impossible days fail
        return None
    this_year = _safe_date(today.year, month, day)
    if this_year and (today - this_year).days <= 31:
        return this_year
    for later in range(today.year + 1, today.year + 9):
        found = _safe_date(later, month, day)
        if found:
            return found
    return None


def _coming_day_of_month(day: int, today: date) -> Optional[date]:
    """"el día 15": this month's if not before today, else the next month that has that day."""
    if not 1 <= day <= 31:
        return None
    for months in range(0, 13):
        found = _safe_date(*_year_month(today, months), day)
        if found and found >= today:
            return found
    return None


def _day_in_next_month(day: int, today: date) -> Optional[date]:
    return _safe_date(*_year_month(today, 1), day)


def _year_month(today: date, months: int) -> Tuple[int, int]:
    first = _add_months(today.replace(day=1), months)
    return first.year, first.month
