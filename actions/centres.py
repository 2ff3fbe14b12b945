"""Centres: details of a named centre, and the centre that serves the citizen's address."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import answers_no_form, buttons, entity, intent, knowledge_base, language, message_text, texts
from vecina.kb.model import Centre
from vecina.services import centres as search
from vecina.services.centres import AddressQuery, CentreDirectory, centre_variables

SEARCH_SLOTS = ("centre_district", "centre_search_street", "centre_search_need", "centre_search_text")
ADDRESS_INTENTS = ("find_my_centre", "nlu_fallback", "centre_info")


def utter_centre(dispatcher: CollectingDispatcher, directory: CentreDirectory, centre: Centre, lang: str) -> None:
    names = texts()
    variables = centre_variables(centre, lang, names.weekday_names(lang), names.text("utter_text_closed", lang))
    dispatcher.utter_message(response="utter_centre_details", **variables)
    now = directory.now()
    state = directory.state(centre, now)
    if state.open_now:
        dispatcher.utter_message(response="utter_centre_open_now", until=f"{state.until:%H:%M}")
    elif state.next_day is not None:
        time_text = f"{state.next_time:%H:%M}"
        days_ahead = (state.next_day - now.date()).days
        if days_ahead == 0:
            dispatcher.utter_message(response="utter_centre_closed_opens_today", time=time_text)
        elif days_ahead == 1:
            dispatcher.utter_message(response="utter_centre_closed_opens_tomorrow", time=time_text)
        else:
            dispatcher.utter_message(response="utter_centre_closed_opens_on", time=time_text,
                                     weekday=names.weekday_names(lang)[state.next_day.weekday()],
                                     date=f"{state.next_day:%d/%m}")
    dispatcher.utter_message(response="utter_centre_accessibility", accessibility=variables["accessibility"])


class ActionCentreInfo(Action):
    def name(self) -> Text:
        return "action_centre_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        lang = language(tracker)
        directory = CentreDirectory(knowledge_base())
        centre = directory.find_centre(entity(tracker, "centre") or entity(tracker, "district"), message_text(tracker))
        if centre is None:
            choices = [(c.name[lang], f'/centre_info{{"centre":"{c.id}"}}') for c in directory.listed_centres()]
            choices.append((texts().text("utter_text_my_centre", lang), "/find_my_centre"))
            dispatcher.utter_message(response="utter_ask_which_centre", buttons=buttons(choices))
            return []
        utter_centre(dispatcher, directory, centre, lang)
        return []


def address_slots(tracker: Tracker) -> Dict[Text, Any]:
    """Slots the latest message gives to the centre search, combined with what earlier turns gave.

    Empty when the message says nothing about an address, so other rules can answer it.
    """
    text = message_text(tracker)
    metadata = tracker.latest_message.get("metadata") or {}
    query = AddressQuery(
        text=text, street=_street_entity(tracker), street_number=entity(tracker, "street_number"),
        postcode=entity(tracker, "postcode"), district=entity(tracker, "district"),
        latitude=metadata.get("latitude"), longitude=metadata.get("longitude"),
        known_street=tracker.get_slot("centre_search_street"))
    result = CentreDirectory(knowledge_base()).resolve(query)
    if result.status == search.FOUND:
        return {"centre_district": result.district.id, "centre_search_need": None}
    if result.status == search.NEED_ADDRESS:
        if intent(tracker) not in ADDRESS_INTENTS or tracker.get_slot("requested_slot") is None:
            return {}
        result = search.AddressResult(search.STREET_NOT_FOUND, street_text=text[:80])
    return {
        "centre_search_need": result.status,
        "centre_search_street": result.street.id if result.street else tracker.get_slot("centre_search_street"),
        "centre_search_text": result.postcode or result.street_text,
    }


def _street_entity(tracker: Tracker) -> Optional[str]:
    """The extractor may split a street into pieces ("de", "la", "carrer-de-la-pau"): prefer a
    value the synonym mapper already turned into a kb id, else the longest piece."""
    values = [str(value) for value in tracker.get_latest_entity_values("street")]
    if not values:
        return None
    known = [value for value in values if value in knowledge_base().streets]
    return known[0] if known else max(values, key=len)


class ActionExtractCentreAddress(Action):
    """Custom slot mapping of `centre_district`: reads the address in the message that starts the
    search (Rasa's form activation does not run the form's own extraction on that message)."""

    def name(self) -> Text:
        return "action_extract_centre_address"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if intent(tracker) != "find_my_centre" or (tracker.active_loop or {}).get("name"):
            return []
        if answers_no_form(tracker):
            return []
        return [SlotSet(slot, value) for slot, value in address_slots(tracker).items()]


class ValidateCentreSearchForm(Action):
    """While the search is active: each answer, combined with what earlier turns gave.

    A plain action, not rasa-sdk's FormValidationAction, which drops every slot that is not a
    required slot: the partial progress (the street is known, the number is missing) must reach
    Rasa, or the form rejects the answer.
    """

    def name(self) -> Text:
        return "validate_centre_search_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if answers_no_form(tracker):
            return []
        return [SlotSet(slot, value) for slot, value in address_slots(tracker).items()]


class ActionAskCentreDistrict(Action):
    """The form's question: depends on what is still missing."""

    def name(self) -> Text:
        return "action_ask_centre_district"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        need: Optional[str] = tracker.get_slot("centre_search_need")
        detail = tracker.get_slot("centre_search_text") or ""
        kb = knowledge_base()
        street = kb.streets.get(tracker.get_slot("centre_search_street") or "")
        if need == search.NEED_NUMBER and street is not None:
            dispatcher.utter_message(response="utter_ask_street_number", street_name=street.name)
        elif need == search.NEED_STREET:
            dispatcher.utter_message(response="utter_ask_street_for_postcode", postcode=detail)
        elif need == search.STREET_NOT_FOUND:
            dispatcher.utter_message(response="utter_street_not_found", street_text=detail)
            suggestions = CentreDirectory(kb).resolve(AddressQuery(street=detail)).suggestions
            if suggestions:
                dispatcher.utter_message(response="utter_street_suggestions", buttons=buttons(
                    [(s.name, f'/find_my_centre{{"street":"{s.id}"}}') for s in suggestions]))
        elif need == search.POSTCODE_NOT_FOUND:
            dispatcher.utter_message(response="utter_postcode_not_found", postcode=detail)
        elif need == search.OUTSIDE:
            dispatcher.utter_message(response="utter_location_outside")
        else:
            dispatcher.utter_message(response="utter_ask_centre_address")
        return []


class ActionAnswerMyCentre(Action):
    def name(self) -> Text:
        return "action_answer_my_centre"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        lang = language(tracker)
        kb = knowledge_base()
        district = kb.districts.get(tracker.get_slot("centre_district") or "")
        reset = [SlotSet(slot, None) for slot in SEARCH_SLOTS]
        if district is None:
            dispatcher.utter_message(response="utter_ask_centre_address")
            return reset
        directory = CentreDirectory(kb)
        centre = directory.centre_for_district(district)
        dispatcher.utter_message(response="utter_your_centre", centre_name=centre.name[lang],
                                 district_name=district.name[lang])
        utter_centre(dispatcher, directory, centre, lang)
        return reset
