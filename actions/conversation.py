"""Session start, language, privacy notice, fallback, urgent help, services not yet available."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, FollowupAction, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from actions.common import entity, intent, knowledge_base, language, municipality_variables, proactive, \
    responses_before_this_message
from vecina.nlu import LANGUAGE_DETECTION, MESSAGE_GUARD
from vecina.services.dispatch import REMINDER_RESPONSES
from vecina.services import language as languages
from vecina.settings import get_settings

CARRIED_OVER = ("language", "handoff_ticket")
REMINDERS = {"utter_appointment_reminder", "utter_appointment_reminder_documents"}  # a typed "sí" confirms  # an open ticket outlives the session
UNAVAILABLE_RESPONSES = {
    "case_status": "utter_case_status_unavailable",
    "report_incident": "utter_report_incident_unavailable",
    "complaint": "utter_complaint_unavailable",
    "subscribe_notices": "utter_subscribe_notices_unavailable",
    "unsubscribe_notices": "utter_unsubscribe_notices_unavailable",
    "human_handoff": "utter_human_handoff_unavailable",
}


class ActionSessionStart(Action):
    """New session: keep only the language; the privacy notice goes with the first reply."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        events += [SlotSet(slot, tracker.get_slot(slot)) for slot in CARRIED_OVER if tracker.get_slot(slot)]
        return events + [ActionExecuted("action_listen")]


class ActionDetectLanguage(Action):
    """Custom slot mapping of `language`: runs after every citizen message."""

    def name(self) -> Text:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        detection = tracker.latest_message.get(LANGUAGE_DETECTION) or {}
        current = tracker.get_slot("language")
        # a proactive message (reminder, offer) to a conversation that has no language yet comes in
        # the language the citizen used when booking
        requested = entity(tracker, "language") if intent(tracker) == "change_language" \
            or (proactive(tracker) and current is None) else None
        decided = languages.decide(current, detection.get("language"), bool(detection.get("reliable")),
                                   requested, get_settings().catalan_variety)
        return [SlotSet("language", decided)] if decided != current else []


class ValidateSlotMappings(ValidationAction):
    """Runs after every citizen message, with the language already decided."""

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = []
        # on a proactive turn the notice waits for the citizen's own words
        if not tracker.get_slot("privacy_notice_shown") and not proactive(tracker):
            kb = knowledge_base()
            dispatcher.utter_message(response="utter_privacy_notice",
                                     **municipality_variables(kb, language(tracker)))
            events.append(SlotSet("privacy_notice_shown", True))
        if intent(tracker) != "nlu_fallback" and tracker.get_slot("fallback_count"):
            events.append(SlotSet("fallback_count", 0.0))
        return events


class ActionHandleFallback(Action):
    """Not understood: say so kindly; after two in a row offer a person.

    Also Rasa's core fallback (no rule fits): it then waits for the citizen instead of being
    predicted again and again.
    """

    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        guard = tracker.latest_message.get(MESSAGE_GUARD) or {}
        listen = FollowupAction("action_listen")
        if guard.get("issue") == "empty":
            dispatcher.utter_message(response="utter_empty_message")
            return [listen]
        if guard.get("issue") == "too_long":
            dispatcher.utter_message(response="utter_message_too_long", max_length=guard.get("max_length"))
            return [listen]
        count = int(tracker.get_slot("fallback_count") or 0) + 1
        if count >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("fallback_count", 0.0), listen]
        dispatcher.utter_message(response="utter_did_not_understand")
        return [SlotSet("fallback_count", float(count)), listen]


class ActionAnswerYesNo(Action):
    """A "sí" or "no" typed (or said) instead of tapping a button: it answers the offer of a person
    or the question "cancel this appointment?"; with no question pending the bot asks what else
    it can do."""

    def name(self) -> Text:
        return "action_answer_yes_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        from actions.appointments import ActionCancelAppointment
        from actions.handoff import ActionHandoff

        # the accepted action runs here, in this turn: a FollowupAction would leave the policies
        # without a rule for what comes after it
        asked = responses_before_this_message(tracker)
        if "utter_offer_human" in asked:
            if intent(tracker) == "affirm":
                return await ActionHandoff().run(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_help_menu")
            return []
        if set(REMINDER_RESPONSES).intersection(asked) and tracker.get_slot("reminded_appointment"):
            from actions.reminders import ActionAnswerAppointmentReminder

            if intent(tracker) == "affirm":
                return await ActionAnswerAppointmentReminder().run(dispatcher, tracker, domain)
            return await ActionCancelAppointment().run(dispatcher, tracker, domain)  # asks "cancel it?" first
        if "utter_ask_cancel_confirmed" in asked:
            if intent(tracker) == "affirm":
                return await ActionCancelAppointment().run(dispatcher, tracker, domain)
            dispatcher.utter_message(response="utter_appointment_kept")
            return [SlotSet("appointment_to_cancel", None)]
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionChangeLanguage(Action):
    """The slot is already switched by action_detect_language; confirm or ask which language."""

    def name(self) -> Text:
        return "action_change_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if entity(tracker, "language") in ("es", "ca", "va"):
            dispatcher.utter_message(response="utter_language_changed")
        else:
            dispatcher.utter_message(response="utter_ask_which_language")
        return []


class ActionUrgentContacts(Action):
    """After the national emergency numbers: the municipal emergency contacts from kb."""

    def name(self) -> Text:
        return "action_urgent_contacts"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        lang = language(tracker)
        contacts = knowledge_base().municipality.emergency_contacts
        lines = "\n".join(f"{contact.label[lang]}: {contact.phone}" for contact in contacts)
        dispatcher.utter_message(response="utter_urgent_municipal_contacts", contacts=lines)
        return []


class ActionServiceUnavailable(Action):
    """Intents whose features come later: an honest answer with what the citizen can do now."""

    def name(self) -> Text:
        return "action_service_unavailable"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        response = UNAVAILABLE_RESPONSES.get(intent(tracker) or "", UNAVAILABLE_RESPONSES["human_handoff"])
        dispatcher.utter_message(response=response,
                                 **municipality_variables(knowledge_base(), language(tracker)))
        return []
