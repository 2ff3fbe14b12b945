"""Appointment reminders (sent by the scheduler through trigger_intent), the citizen's Confirm or
Cancel, and the offer of a freed slot to the first citizen on the waiting list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.appointments import backend, now, office_phone, slot_variables
from actions.common import buttons, entity, knowledge_base, language, texts
from vecina.services.appointments import BackendUnavailable, NotFound, Slot, WaitingList, part_of_day
from vecina.services.procedures import procedure_variables
from vecina.services.reminders import (ACCEPTED, CANCELLED_ANSWER, CONFIRMED_ANSWER, TOO_LATE, ReminderLog,
                                       answer_reminder, reminder_template)
from vecina.settings import get_settings

ANSWERS = {"confirm": CONFIRMED_ANSWER, "cancel": CANCELLED_ANSWER}


def answer_payload(appointment_id: int, answer: str) -> str:
    return f'/appointment_reminder_answer{{"appointment_id":"{appointment_id}","reminder_answer":"{answer}"}}'


def reminders() -> ReminderLog:
    return ReminderLog(get_settings().database_url, clock=lambda: now(knowledge_base()))


class ActionSendAppointmentReminder(Action):
    """The reminder of an appointment: when, what, where, what to bring, and Confirm / Cancel.
    On WhatsApp outside the 24-hour window the approved template goes instead (VECINA_WHATSAPP_REMINDER_TEMPLATE)."""

    def name(self) -> Text:
        return "action_send_appointment_reminder"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        appointment_id = int(entity(tracker, "appointment_id") or 0)
        appointment = reminders().addressed_to(appointment_id, tracker.sender_id)
        if appointment is None:  # cancelled since the run started, or not this citizen's
            return []
        variables = slot_variables(kb, appointment.slot, lang)
        procedure = kb.procedures.get(kb.appointment_services[appointment.service].procedure or "")
        documents = procedure_variables(procedure, lang)["documents"] if procedure else ""
        choices = [(texts().text("utter_text_reminder_confirm", lang), answer_payload(appointment_id, "confirm")),
                   (texts().text("utter_text_reminder_cancel", lang), answer_payload(appointment_id, "cancel"))]
        template = reminder_template(get_settings().whatsapp_reminder_template, variables,
                                     [payload for _, payload in choices])
        dispatcher.utter_message(response="utter_appointment_reminder_documents" if documents
                                 else "utter_appointment_reminder", buttons=buttons(choices),
                                 json_message=template, documents=documents, **variables)
        return [SlotSet("reminded_appointment", str(appointment_id))]


class ActionAnswerAppointmentReminder(Action):
    """Confirm or Cancel on a reminder, until its deadline; a cancellation frees the slot and
    offers another appointment."""

    def name(self) -> Text:
        return "action_answer_appointment_reminder"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        answer = ANSWERS.get(entity(tracker, "reminder_answer") or "confirm", CONFIRMED_ANSWER)
        appointment_id = entity(tracker, "appointment_id") or tracker.get_slot("reminded_appointment") or "0"
        try:
            outcome, appointment = answer_reminder(
                reminders(), backend(), WaitingList(get_settings().database_url), int(appointment_id),
                tracker.sender_id, answer, now(kb))
        except NotFound:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return [SlotSet("reminded_appointment", None)]
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_appointment_unavailable", phone=kb.municipality.phone)
            return []
        if appointment is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
        elif outcome == TOO_LATE:
            dispatcher.utter_message(response="utter_appointment_reminder_expired",
                                     phone=office_phone(kb, appointment.office))
        elif outcome == ACCEPTED and answer == CONFIRMED_ANSWER:
            dispatcher.utter_message(response="utter_appointment_reminder_confirmed",
                                     **slot_variables(kb, appointment.slot, lang))
        elif outcome == ACCEPTED:
            dispatcher.utter_message(response="utter_appointment_reminder_cancelled",
                                     e_office_url=kb.municipality.e_office_url,
                                     buttons=buttons([(texts().text("utter_text_book_again", lang),
                                                       "/appointment_book")]),
                                     **slot_variables(kb, appointment.slot, lang))
        else:
            dispatcher.utter_message(response="utter_appointment_reminder_answered")
        return [SlotSet("reminded_appointment", None)]


class ActionOfferFreedSlot(Action):
    """A citizen on the waiting list hears of a freed slot; "I want it" starts the booking on that
    day and part of the day (someone may be quicker: the form then offers what is left)."""

    def name(self) -> Text:
        return "action_offer_freed_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        offer = WaitingList(get_settings().database_url).offered(int(entity(tracker, "waiting_id") or 0),
                                                                 tracker.sender_id)
        if offer is None or offer.offered_slot is None or offer.offered_slot <= now(kb):
            return []
        service = kb.appointment_services.get(offer.service)
        if service is None or offer.office not in kb.appointment_offices:
            return []
        starts = offer.offered_slot
        slot = Slot(offer.office, offer.service, starts, starts + timedelta(minutes=service.minutes))
        take = (f'/appointment_book{{"appointment_service":"{offer.service}","appointment_office":"{offer.office}",'
                f'"appointment_when":"{starts:%Y-%m-%d}/{part_of_day(starts)}"}}')
        dispatcher.utter_message(response="utter_waiting_list_offer", buttons=buttons(
            [(texts().text("utter_text_take_slot", lang), take), (texts().text("utter_text_no_thanks", lang), "/deny")]),
            **slot_variables(kb, slot, lang))
        return []

