"""Procedure questions: what it is, who qualifies, which documents; and the list of procedures."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import buttons, entity, intent, knowledge_base, language, message_text, texts
from vecina.kb.model import Procedure
from vecina.services.procedures import AMBIGUOUS, FOUND, ProcedureCatalog, procedure_variables

QUESTIONS = ("procedure_info", "procedure_requirements", "procedure_documents")
BUTTONS_OFFERED = 6
PAGE_SIZE = 8


def _choice_buttons(procedures: List[Procedure], question: str, lang: str) -> List[Dict[str, str]]:
    return buttons([(p.name[lang], f'/{question}{{"procedure":"{p.id}"}}') for p in procedures])


class ActionAnswerProcedure(Action):
    def name(self) -> Text:
        return "action_answer_procedure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        lang = language(tracker)
        catalog = ProcedureCatalog(knowledge_base())
        question = self._question(tracker)
        named = entity(tracker, "procedure")
        match = catalog.find(named, message_text(tracker))
        procedure: Optional[Procedure] = match.procedure
        if procedure is None and not named and match.status != AMBIGUOUS:
            procedure = catalog.get(tracker.get_slot("procedure"))  # "and which documents?" follow-ups
        if procedure is None:
            if match.status == AMBIGUOUS:
                dispatcher.utter_message(response="utter_procedure_ambiguous",
                                         buttons=_choice_buttons(match.candidates, question, lang))
            else:
                if named:
                    dispatcher.utter_message(response="utter_procedure_not_found", procedure_text=named)
                more = (texts().text("utter_text_more", lang), "/procedure_list")
                dispatcher.utter_message(
                    response="utter_ask_which_procedure",
                    buttons=_choice_buttons(catalog.popular(BUTTONS_OFFERED), question, lang) + buttons([more]))
            return [SlotSet("procedure_question", question)]
        self._answer(dispatcher, procedure, question, lang)
        return [SlotSet("procedure", procedure.id), SlotSet("procedure_question", None)]

    @staticmethod
    def _question(tracker: Tracker) -> str:
        current = intent(tracker)
        pending = tracker.get_slot("procedure_question")
        if current == "procedure_info" and pending in QUESTIONS:
            return pending  # the citizen answered "which procedure?" with just its name
        return current if current in QUESTIONS else "procedure_info"

    @staticmethod
    def _answer(dispatcher: CollectingDispatcher, procedure: Procedure, question: str, lang: str) -> None:
        variables = procedure_variables(procedure, lang)
        if question == "procedure_requirements":
            dispatcher.utter_message(response="utter_procedure_requirements", **variables)
        elif question == "procedure_documents":
            dispatcher.utter_message(response="utter_procedure_documents", **variables)
        else:
            dispatcher.utter_message(response="utter_procedure_summary", **variables)
            dispatcher.utter_message(response="utter_procedure_how_to_apply", **variables)
            if procedure.online_url:
                dispatcher.utter_message(response="utter_procedure_online", **variables)
            if procedure.appointment_required:
                dispatcher.utter_message(response="utter_procedure_appointment_required")
            dispatcher.utter_message(response="utter_procedure_fee_time", **variables)
            dispatcher.utter_message(response="utter_procedure_legal_basis", **variables)
        if procedure.served_at == "social_services":
            dispatcher.utter_message(response="utter_procedure_where_served_centre")
        else:
            office = knowledge_base().centres[procedure.served_at]
            dispatcher.utter_message(response="utter_procedure_where_served_office",
                                     centre_name=office.name[lang], address=office.address, phone=office.phone)
        dispatcher.utter_message(response="utter_procedure_followup")


class ActionListProcedures(Action):
    def name(self) -> Text:
        return "action_list_procedures"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        lang = language(tracker)
        page_text = entity(tracker, "page") or "1"
        number = int(page_text) if page_text.isdigit() else 1
        procedures, pages = ProcedureCatalog(knowledge_base()).page(number, PAGE_SIZE)
        number = min(max(1, number), pages)
        choices = _choice_buttons(procedures, "procedure_info", lang)
        if number < pages:
            choices += buttons([(texts().text("utter_text_more", lang), f'/procedure_list{{"page":"{number + 1}"}}')])
        dispatcher.utter_message(response="utter_procedure_list", page=number, pages=pages, buttons=choices)
        return []
