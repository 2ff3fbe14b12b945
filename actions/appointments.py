"""Appointments: the booking form's questions, reading the answers, the booking itself; the
citizen's list, and cancelling.

Over a phone call the caller ID is all there is to go on, and anyone can make a call seem to come
from another number. So a call may book, but never hears its appointments nor cancels or changes
one: the list goes by SMS to the number calling (an impostor never sees it), with how to cancel
or change (the SMS reminder, or the town hall's phone); without SMS the caller hears where to go."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (answers_no_form, buttons, entity, intent, kb_reader, knowledge_base, language,
                            message_text, municipality_variables, texts)
from vecina.kb.model import KnowledgeBase
from vecina.services.appointments import (AppointmentBackend, AppointmentView, BackendUnavailable, Citizen, NotFound,
                                          Slot, SlotTaken, WaitingList, appointment_backend, day_refusal, decode_when,
                                          encode_when, service_named)
from vecina.services.centres import CentreDirectory
from vecina.services.dates import DateRequest, understand_date
from vecina.services.handoff import local_now
from vecina.services.procedures import procedure_variables
from vecina.settings import get_settings

FORM = "appointment_book_form"
FORM_SLOTS = ("appointment_service", "appointment_office", "appointment_when", "appointment_slot",
              "appointment_confirmed", "appointment_offered", "appointment_problem", "appointment_to_change")
FIRST_AVAILABLE, CHANGE_DAY = "first", "change"
YES, NO, STOPPED = "yes", "no", "stopped"  # STOPPED: the form already said why it cannot go on
DAY_REFUSALS = {"past": "utter_appointment_day_past", "closed": "utter_appointment_day_closed",
                "too_far": "utter_appointment_day_too_far"}
CLOCK_TIME = re.compile(r"\b(\d{1,2})(?:[:.h](\d{2}))?\b")
PHONE = re.compile(r":(\+\d{6,15})$")
VOICE_CHANNEL = "twilio_voice"  # vecina/channels/twilio.py
# The custom payload that asks the voice channel to text its caller (vecina/channels/twilio.py, SMS_TO_CALLER):
# {"text": the SMS, "response": its response name, "otherwise": what to say instead when it cannot be sent}.
SMS_TO_CALLER = "sms_to_caller"
OFFERED_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}(/(morning|afternoon))?$")


def backend() -> AppointmentBackend:
    return appointment_backend(get_settings(), kb_reader())


def now(kb: KnowledgeBase) -> datetime:
    return local_now(kb).replace(tzinfo=None)


def payload(**values: str) -> str:
    inner = ",".join(f'"{key}":"{value}"' for key, value in values.items())
    return f"/appointment_book{{{inner}}}"


def wait_payload(service: str, office: str, wanted: Optional[DateRequest]) -> str:
    """The button that puts the citizen on the waiting list (for the day asked, if any)."""
    day = (wanted.day or wanted.start) if wanted is not None else None
    when = f',"appointment_when":"{day:%Y-%m-%d}{"/" + wanted.part_of_day if wanted.part_of_day else ""}"' \
        if day else ""
    return f'/appointment_wait{{"appointment_service":"{service}","appointment_office":"{office}"{when}}}'


def offered_day(value: Optional[str]) -> Optional[DateRequest]:
    """A day (and part of the day) carried by a button: "2026-11-24" or "2026-11-24/morning"."""
    if not value or not OFFERED_DAY.match(value):
        return None
    day, _, part = value.partition("/")
    return DateRequest(day=date.fromisoformat(day), part_of_day=part or None)


def slot_variables(kb: KnowledgeBase, slot: Slot, lang: str) -> Dict[str, str]:
    office = kb.appointment_offices[slot.office]
    centre = kb.centres[office.centre]
    return {"service": kb.appointment_services[slot.service].name[lang], "office": centre.name[lang],
            "address": centre.address, "weekday": texts().weekday_names(lang)[slot.starts_at.weekday()],
            "date": f"{slot.starts_at:%d/%m}", "time": f"{slot.starts_at:%H:%M}"}


def chosen_slot(tracker: Tracker) -> Optional[Slot]:
    value = tracker.get_slot("appointment_slot")
    if not value:
        return None
    kb = knowledge_base()
    starts = datetime.fromisoformat(value)
    service = kb.appointment_services[tracker.get_slot("appointment_service")]
    return Slot(tracker.get_slot("appointment_office"), service.id, starts, starts + timedelta(minutes=service.minutes))


def office_phone(kb: KnowledgeBase, office_id: Optional[str]) -> str:
    office = kb.appointment_offices.get(office_id or "")
    return kb.centres[office.centre].phone if office else kb.municipality.phone


def over_the_phone(tracker: Tracker) -> bool:
    """A phone call: the conversation's channel (its id's namespace, or the channel the latest
    message came in on), never anything the caller said."""
    return tracker.sender_id.startswith(VOICE_CHANNEL + ":") or tracker.get_latest_input_channel() == VOICE_CHANNEL


def sms_enabled() -> bool:
    """Whether texts can be sent (the scheduler's test too: vecina/scheduler.py)."""
    settings = get_settings()
    return bool(settings.twilio_sms_from and settings.twilio_account_sid)


def appointments_sms(kb: KnowledgeBase, upcoming: List[AppointmentView], lang: str) -> Dict[str, str]:
    """The SMS with a caller's appointments and how to cancel or change them: its response name
    and its text (the office's phone when they are all at one office)."""
    town_hall, phone = kb.municipality.name[lang], kb.municipality.phone
    if not upcoming:
        name = "utter_appointment_sms_none"
        return {"response": name, "text": texts().text(name, lang).format(town_hall=town_hall, phone=phone)}
    item = texts().text("utter_appointment_list_item", lang)
    offices = {a.office for a in upcoming}
    if len(offices) == 1:
        phone = office_phone(kb, next(iter(offices)))
    name = "utter_appointment_sms_list"
    return {"response": name, "text": texts().text(name, lang).format(
        town_hall=town_hall, phone=phone,
        appointments="\n\n".join(item.format(**slot_variables(kb, a.slot, lang)) for a in upcoming))}


def by_phone(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Listing, cancelling or changing asked over a call: the list by SMS to the number calling,
    or, without SMS, where to go. Nothing about the appointments is said in the call."""
    kb, lang = knowledge_base(), language(tracker)
    spoken = {"phone": kb.municipality.phone, "phone_hours": municipality_variables(kb, lang)["phone_hours"]}
    if not sms_enabled():
        dispatcher.utter_message(response="utter_appointment_by_phone_no_sms", **spoken)
        return
    try:
        upcoming = backend().upcoming(tracker.sender_id, now(kb))
    except BackendUnavailable:
        dispatcher.utter_message(response="utter_appointment_unavailable", phone=kb.municipality.phone)
        return
    otherwise = texts().text("utter_appointment_by_phone_no_sms", lang).format(**spoken)
    dispatcher.utter_message(response="utter_appointment_by_phone_sms_sent", **spoken,
                             json_message={SMS_TO_CALLER: {**appointments_sms(kb, upcoming, lang),
                                                           "otherwise": otherwise}})


def stop_form() -> List[EventType]:
    """End the form after saying why; action_book_appointment then only tidies up."""
    return [SlotSet("appointment_confirmed", STOPPED), SlotSet("requested_slot", None), ActiveLoop(None)]


def read_answer(tracker: Tracker) -> Dict[Text, Any]:
    """What the latest message gives the booking form: a button's entity, or typed text for the
    slot being asked. Problems (a past day, an unknown time) go to `appointment_problem`."""
    kb, text = knowledge_base(), message_text(tracker)
    asked = tracker.get_slot("requested_slot")
    typed = not text.startswith("/")
    found: Dict[Text, Any] = {"appointment_problem": None}
    if asked is None and intent(tracker) == "appointment_book":  # a new booking: nothing from an abandoned one
        found.update({slot: None for slot in FORM_SLOTS})
    service = entity(tracker, "appointment_service")
    if service not in kb.appointment_services and asked == "appointment_service" and typed:
        service = service_named(kb, text)
    if service in kb.appointment_services:
        found["appointment_service"] = service
    service = found.get("appointment_service") or tracker.get_slot("appointment_service")
    offices = [o.id for o in kb.appointment_offices.values() if service in o.desks]
    office = entity(tracker, "appointment_office")
    if office not in offices and asked == "appointment_office" and typed:
        centre = CentreDirectory(kb).find_centre(None, text)
        office = next((o for o in offices if centre and kb.appointment_offices[o].centre == centre.id), None)
    if office not in offices and len(offices) == 1:
        office = offices[0]
    if office in offices:
        found["appointment_office"] = office
    when = entity(tracker, "appointment_when")
    if when == FIRST_AVAILABLE:
        found["appointment_when"] = encode_when(DateRequest(first_available=True))
    elif offered_day(when):  # the button of a freed slot offered to the waiting list
        found.update(_checked_day(kb, found.get("appointment_office") or tracker.get_slot("appointment_office"),
                                  offered_day(when)))
    elif asked == "appointment_when" and typed:
        found.update(_read_day(kb, tracker, text))
    if asked == "appointment_slot":
        found.update(_read_time(tracker, text))
    if asked == "appointment_confirmed":
        if when == CHANGE_DAY:
            found.update(appointment_when=None, appointment_slot=None)
        elif intent(tracker) in ("affirm", "deny"):
            found["appointment_confirmed"] = YES if intent(tracker) == "affirm" else NO
    return found


def _read_day(kb: KnowledgeBase, tracker: Tracker, text: str) -> Dict[Text, Any]:
    wanted = understand_date(text, now(kb).date())
    if wanted is None:
        return {"appointment_problem": "day_not_understood"}
    return _checked_day(kb, tracker.get_slot("appointment_office"), wanted)


def _checked_day(kb: KnowledgeBase, office: Optional[str], wanted: DateRequest) -> Dict[Text, Any]:
    today = now(kb).date()
    refusal = day_refusal(kb, office, wanted, today) if office else None
    if refusal:
        return {"appointment_problem": f"{refusal}:{wanted.day:%d/%m}"}
    return {"appointment_when": encode_when(wanted)}


def _read_time(tracker: Tracker, text: str) -> Dict[Text, Any]:
    offered: List[str] = tracker.get_slot("appointment_offered") or []
    chosen = entity(tracker, "appointment_slot")
    if chosen in offered:
        return {"appointment_slot": chosen}
    stripped = text.strip().rstrip(".")
    if stripped.isdigit() and 1 <= int(stripped) <= len(offered):
        return {"appointment_slot": offered[int(stripped) - 1]}
    for match in CLOCK_TIME.finditer(text):
        wanted = f"{int(match.group(1)):02d}:{match.group(2) or '00'}"
        hit = next((start for start in offered if start[11:16] == wanted), None)
        if hit:
            return {"appointment_slot": hit}
    return {"appointment_problem": "slot_not_understood"}


class ValidateAppointmentBookForm(Action):
    """A plain action, like the centre search's: it reports every slot the answer gives."""

    def name(self) -> Text:
        return "validate_appointment_book_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if answers_no_form(tracker):
            return []
        return [SlotSet(slot, value) for slot, value in read_answer(tracker).items()]


class ActionAskAppointmentService(Action):
    def name(self) -> Text:
        return "action_ask_appointment_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        choices = [(s.name[lang], payload(appointment_service=s.id)) for s in kb.appointment_services.values()]
        dispatcher.utter_message(response="utter_ask_appointment_service", buttons=buttons(choices))
        return []


class ActionAskAppointmentOffice(Action):
    """The offices that offer the service; the citizen's own centre first, when known."""

    def name(self) -> Text:
        return "action_ask_appointment_office"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        service = tracker.get_slot("appointment_service")
        district = kb.districts.get(tracker.get_slot("centre_district") or "")
        mine = district.centre if district else None
        offices = sorted((o for o in kb.appointment_offices.values() if service in o.desks),
                         key=lambda o: o.centre != mine)
        choices = []
        for office in offices:
            label = kb.centres[office.centre].name[lang]
            if office.centre == mine:
                label = texts().text("utter_text_your_centre", lang).format(office=label)
            choices.append((label, payload(appointment_office=office.id)))
        dispatcher.utter_message(response="utter_ask_appointment_office", buttons=buttons(choices))
        return []


class ActionAskAppointmentWhen(Action):
    def name(self) -> Text:
        return "action_ask_appointment_when"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        problem = tracker.get_slot("appointment_problem") or ""
        kind, _, day = problem.partition(":")
        office = kb.appointment_offices.get(tracker.get_slot("appointment_office") or "")
        first = buttons([(texts().text("utter_text_first_available", lang), payload(appointment_when=FIRST_AVAILABLE))])
        if kind == "day_not_understood":
            dispatcher.utter_message(response="utter_appointment_day_not_understood", buttons=first)
        elif kind in DAY_REFUSALS:
            dispatcher.utter_message(response=DAY_REFUSALS[kind], day=day,
                                     office=kb.centres[office.centre].name[lang] if office else "",
                                     days=kb.booking.horizon_days, buttons=first)
        else:
            dispatcher.utter_message(response="utter_ask_appointment_when", buttons=first)
        return []


class ActionAskAppointmentSlot(Action):
    """Up to three free times for the day asked (or the first ones after it, saying so)."""

    def name(self) -> Text:
        return "action_ask_appointment_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        office, service = tracker.get_slot("appointment_office"), tracker.get_slot("appointment_service")
        wanted = decode_when(tracker.get_slot("appointment_when"))
        if tracker.get_slot("appointment_problem") == "slot_not_understood":
            dispatcher.utter_message(response="utter_appointment_slot_not_understood")
        try:
            agenda = backend()
            slots = agenda.free_slots(office, service, wanted, now(kb))
            response = "utter_ask_appointment_slot"
            if not slots and wanted is not None and (wanted.day or wanted.start):
                slots = agenda.free_slots(office, service, DateRequest(start=wanted.day or wanted.start), now(kb))
                response = "utter_appointment_day_full"
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_appointment_unavailable", phone=office_phone(kb, office))
            return stop_form()
        if not slots:
            centre = kb.centres[kb.appointment_offices[office].centre]
            dispatcher.utter_message(response="utter_appointment_no_slots", office=centre.name[lang],
                                     phone=centre.phone, buttons=buttons(
                                         [(texts().text("utter_text_join_waiting_list", lang),
                                           wait_payload(service, office, None))]))
            return stop_form()
        names = texts().weekday_names(lang)
        choices = [(f"{names[s.starts_at.weekday()]} {s.starts_at:%d/%m %H:%M}",
                    payload(appointment_slot=s.starts_at.isoformat(timespec="minutes"))) for s in slots]
        if response == "utter_appointment_day_full":
            choices.append((texts().text("utter_text_wait_for_that_day", lang), wait_payload(service, office, wanted)))
        day = f"{wanted.day:%d/%m}" if wanted is not None and wanted.day else ""
        dispatcher.utter_message(response=response, day=day, buttons=buttons(choices))
        return [SlotSet("appointment_offered", [s.starts_at.isoformat(timespec="minutes") for s in slots])]


class ActionAskAppointmentConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_appointment_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        slot = chosen_slot(tracker)
        choices = [(texts().text("utter_text_book_yes", lang), "/affirm"),
                   (texts().text("utter_text_change_day", lang), payload(appointment_when=CHANGE_DAY)),
                   (texts().text("utter_text_book_no", lang), "/deny")]
        response = "utter_ask_appointment_change_confirmed" if tracker.get_slot("appointment_to_change") \
            else "utter_ask_appointment_confirmed"
        dispatcher.utter_message(response=response, buttons=buttons(choices), **slot_variables(kb, slot, lang))
        return []


class ActionBookAppointment(Action):
    """After the form: book, or say honestly why not. A slot taken meanwhile asks again."""

    def name(self) -> Text:
        return "action_book_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        done = [SlotSet(slot, None) for slot in FORM_SLOTS]
        slot, answer = chosen_slot(tracker), tracker.get_slot("appointment_confirmed")
        if answer == STOPPED:
            return done
        if answer != YES or slot is None:
            dispatcher.utter_message(response="utter_appointment_not_booked")
            return done
        phone = PHONE.search(tracker.sender_id)
        citizen = Citizen(tracker.sender_id, tracker.get_latest_input_channel() or "rest", lang,
                          phone.group(1) if phone else None)
        key = f"{tracker.sender_id}:{tracker.latest_message.get('message_id') or slot.starts_at.isoformat()}"
        to_change = tracker.get_slot("appointment_to_change")
        if to_change and over_the_phone(tracker):  # action_change_appointment never starts one in a call
            by_phone(dispatcher, tracker)
            return done
        agenda = backend()
        try:
            if to_change:
                self.move(dispatcher, agenda, tracker, int(to_change), slot, key[:100])
                return done
            booked = agenda.book(slot, citizen, None, key[:100], now(kb))
            WaitingList(get_settings().database_url).booked(citizen.conversation_id, slot.office, slot.service)
        except NotFound:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return done
        except SlotTaken:
            dispatcher.utter_message(response="utter_appointment_slot_taken")
            return [SlotSet("appointment_slot", None), SlotSet("appointment_confirmed", None),
                    SlotSet("appointment_when", encode_when(DateRequest(start=slot.starts_at.date()))),
                    FollowupAction(FORM)]
        except BackendUnavailable as failure:
            response = "utter_appointment_unconfirmed" if failure.uncertain else "utter_appointment_unavailable"
            dispatcher.utter_message(response=response, phone=office_phone(kb, slot.office))
            return done
        dispatcher.utter_message(response="utter_appointment_booked", **slot_variables(kb, booked.slot, lang))
        procedure = kb.procedures.get(kb.appointment_services[booked.service].procedure or "")
        if procedure is not None:
            dispatcher.utter_message(response="utter_appointment_documents",
                                     documents=procedure_variables(procedure, lang)["documents"])
        return done

    @staticmethod
    def move(dispatcher: CollectingDispatcher, agenda: AppointmentBackend, tracker: Tracker, appointment_id: int,
             slot: Slot, key: str) -> None:
        """Change an appointment: the new time is booked before the old one is freed (and offered
        to the waiting list)."""
        kb, lang = knowledge_base(), language(tracker)
        old = next((a for a in agenda.upcoming(tracker.sender_id, now(kb)) if a.id == appointment_id), None)
        if old is None:
            raise NotFound()
        moved = agenda.change(appointment_id, tracker.sender_id, slot, key, now(kb))
        if moved.slot != old.slot:
            WaitingList(get_settings().database_url).offer(old.slot)
        dispatcher.utter_message(response="utter_appointment_changed", **slot_variables(kb, moved.slot, lang))


def appointment_choices(upcoming: List[AppointmentView], lang: str, payload_of: Any) -> List[tuple]:
    """One button per appointment: its day and time."""
    names = texts().weekday_names(lang)
    return [(f"{names[a.starts_at.weekday()]} {a.starts_at:%d/%m %H:%M}", payload_of(a.id)) for a in upcoming]


def change_payload(appointment_id: int) -> str:
    return f'/appointment_change{{"appointment_id":"{appointment_id}"}}'


def cancel_payload(appointment_id: int, confirmed: bool = False) -> str:
    extra = ',"cancel_confirmed":"yes"' if confirmed else ""
    return f'/appointment_cancel{{"appointment_id":"{appointment_id}"{extra}}}'


class ActionListAppointments(Action):
    """The citizen's upcoming appointments (found by their verified sender), each with a way to cancel
    it; over a call, by SMS instead."""

    def name(self) -> Text:
        return "action_list_appointments"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        if over_the_phone(tracker):
            by_phone(dispatcher, tracker)
            return []
        try:
            upcoming = backend().upcoming(tracker.sender_id, now(kb))
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_appointment_unavailable", phone=kb.municipality.phone)
            return []
        if not upcoming:
            dispatcher.utter_message(response="utter_appointment_list_none", buttons=buttons(
                [(texts().text("utter_text_book_one", lang), "/appointment_book")]))
            return []
        for appointment in upcoming:
            dispatcher.utter_message(response="utter_appointment_list_item", buttons=buttons(
                [(texts().text("utter_text_change_this", lang), change_payload(appointment.id)),
                 (texts().text("utter_text_cancel_this", lang), cancel_payload(appointment.id))]),
                **slot_variables(kb, appointment.slot, lang))
        return []


class ActionCancelAppointment(Action):
    """Which appointment (buttons when there are several), a confirmation, then the cancellation,
    which frees the slot for the waiting list. Never over a call."""

    def name(self) -> Text:
        return "action_cancel_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        if over_the_phone(tracker):
            by_phone(dispatcher, tracker)
            return [SlotSet("appointment_to_cancel", None)]
        agenda = backend()
        typed_yes = intent(tracker) == "affirm"
        wanted = entity(tracker, "appointment_id") or (typed_yes and tracker.get_slot("appointment_to_cancel")) or ""
        confirmed = entity(tracker, "cancel_confirmed") == YES or typed_yes
        try:
            upcoming = agenda.upcoming(tracker.sender_id, now(kb))
            chosen = next((a for a in upcoming if str(a.id) == str(wanted)), None)
            if wanted and chosen is None:
                dispatcher.utter_message(response="utter_appointment_not_found")
                return [SlotSet("appointment_to_cancel", None)]
            if chosen is None and len(upcoming) != 1:
                if not upcoming:
                    dispatcher.utter_message(response="utter_appointment_list_none")
                    return []
                dispatcher.utter_message(response="utter_ask_which_appointment",
                                         buttons=buttons(appointment_choices(upcoming, lang, cancel_payload)))
                return []
            chosen = chosen or upcoming[0]
            if not confirmed:
                choices = [(texts().text("utter_text_cancel_it", lang), cancel_payload(chosen.id, confirmed=True)),
                           (texts().text("utter_text_keep_it", lang), "/deny")]
                dispatcher.utter_message(response="utter_ask_cancel_confirmed", buttons=buttons(choices),
                                         **slot_variables(kb, chosen.slot, lang))
                return [SlotSet("appointment_to_cancel", str(chosen.id))]
            cancelled = agenda.cancel(chosen.id, tracker.sender_id, now(kb))
        except NotFound:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return [SlotSet("appointment_to_cancel", None)]
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_appointment_unavailable", phone=kb.municipality.phone)
            return [SlotSet("appointment_to_cancel", None)]
        WaitingList(get_settings().database_url).offer(cancelled.slot)
        dispatcher.utter_message(response="utter_appointment_cancelled", **slot_variables(kb, cancelled.slot, lang))
        return [SlotSet("appointment_to_cancel", None)]


class ActionChangeAppointment(Action):
    """Which appointment (buttons when there are several); then the booking form asks the new day
    and time for the same service and office, and action_book_appointment moves it. Never over a call."""

    def name(self) -> Text:
        return "action_change_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        if over_the_phone(tracker):
            by_phone(dispatcher, tracker)
            return [SlotSet("appointment_to_change", None)]
        wanted = entity(tracker, "appointment_id")
        try:
            upcoming = backend().upcoming(tracker.sender_id, now(kb))
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_appointment_unavailable", phone=kb.municipality.phone)
            return []
        chosen = next((a for a in upcoming if str(a.id) == str(wanted)), None)
        if wanted and chosen is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return []
        if chosen is None and len(upcoming) != 1:
            if not upcoming:
                dispatcher.utter_message(response="utter_appointment_list_none", buttons=buttons(
                    [(texts().text("utter_text_book_one", lang), "/appointment_book")]))
            else:
                dispatcher.utter_message(response="utter_ask_which_appointment_to_change",
                                         buttons=buttons(appointment_choices(upcoming, lang, change_payload)))
            return []
        chosen = chosen or upcoming[0]
        dispatcher.utter_message(response="utter_appointment_change_start", **slot_variables(kb, chosen.slot, lang))
        return [*(SlotSet(slot, None) for slot in FORM_SLOTS), SlotSet("appointment_service", chosen.service),
                SlotSet("appointment_office", chosen.office), SlotSet("appointment_to_change", str(chosen.id)),
                FollowupAction(FORM)]


class ActionJoinWaitingList(Action):
    """No time suited: the citizen is told when one is freed (vecina/services/dispatch.py)."""

    def name(self) -> Text:
        return "action_join_waiting_list"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        service, office = entity(tracker, "appointment_service"), entity(tracker, "appointment_office")
        done = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if service not in kb.appointment_services or office not in kb.appointment_offices:
            dispatcher.utter_message(response="utter_appointment_not_booked")
            return done
        phone = PHONE.search(tracker.sender_id)
        citizen = Citizen(tracker.sender_id, tracker.get_latest_input_channel() or "rest", lang,
                          phone.group(1) if phone else None)
        wanted = offered_day(entity(tracker, "appointment_when"))
        WaitingList(get_settings().database_url).join(office, service, citizen, wanted, now(kb).date())
        centre = kb.centres[kb.appointment_offices[office].centre]
        dispatcher.utter_message(response="utter_waiting_list_joined_day" if wanted else "utter_waiting_list_joined",
                                 service=kb.appointment_services[service].name[lang], office=centre.name[lang],
                                 day=f"{wanted.day:%d/%m}" if wanted else "")
        return done
