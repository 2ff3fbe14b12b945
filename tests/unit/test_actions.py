"""Actions against a real SQLite database loaded from kb: response names and events, not wording."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.centres import (ActionAnswerMyCentre, ActionAskCentreDistrict, ActionCentreInfo,
                             ActionExtractCentreAddress, ValidateCentreSearchForm)
from actions.conversation import (ActionAnswerYesNo, ActionChangeLanguage, ActionDetectLanguage, ActionHandleFallback,
                                  ActionServiceUnavailable, ActionSessionStart, ActionUrgentContacts,
                                  ValidateSlotMappings)
from actions.procedures import ActionAnswerProcedure, ActionListProcedures
from tests.conftest import make_tracker, response_names

pytestmark = pytest.mark.usefixtures("actions_env")
DOMAIN: dict = {}


async def run(action, tracker):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events


def slots_of(events) -> dict:  # type: ignore[no-untyped-def]
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize("intent, response", [
    ("procedure_info", "utter_procedure_summary"),
    ("procedure_requirements", "utter_procedure_requirements"),
    ("procedure_documents", "utter_procedure_documents"),
])
async def test_procedure_answer_uses_the_asked_field(intent: str, response: str) -> None:
    tracker = make_tracker("y la renta valenciana de inclusion?", intent, [("procedure", "renta valenciana de inclusion")],
                           slots={"language": "ca"})
    dispatcher, events = await run(ActionAnswerProcedure(), tracker)
    names = response_names(dispatcher)
    assert names[0] == response and names[-1] == "utter_procedure_followup"
    assert slots_of(events)["procedure"] == "inclusion-income"
    message = dispatcher.messages[0]
    assert "Renda Valenciana" in message["procedure_name"] or "Renda" in message["procedure_name"]


async def test_procedure_info_sends_how_to_apply_and_where_it_is_served() -> None:
    tracker = make_tracker("como me empadrono", "procedure_info", slots={"language": "es"})
    dispatcher, _ = await run(ActionAnswerProcedure(), tracker)
    names = response_names(dispatcher)
    assert names[:2] == ["utter_procedure_summary", "utter_procedure_how_to_apply"]
    assert "utter_procedure_where_served_office" in names  # census: at the citizen office
    assert "utter_procedure_legal_basis" in names


async def test_missing_procedure_offers_the_most_requested_as_buttons() -> None:
    tracker = make_tracker("que papeles tengo que llevar", "procedure_documents", slots={"language": "va"})
    dispatcher, events = await run(ActionAnswerProcedure(), tracker)
    assert response_names(dispatcher) == ["utter_ask_which_procedure"]
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads[0].startswith('/procedure_documents{"procedure":')
    assert payloads[-1] == "/procedure_list"  # the "more" option
    assert slots_of(events)["procedure_question"] == "procedure_documents"


async def test_typed_name_after_the_question_answers_the_pending_field() -> None:
    tracker = make_tracker("la teleasistencia", "procedure_info", slots={"procedure_question": "procedure_requirements"})
    dispatcher, events = await run(ActionAnswerProcedure(), tracker)
    assert response_names(dispatcher)[0] == "utter_procedure_requirements"
    assert slots_of(events) == {"procedure": "tele-assistance", "procedure_question": None}


async def test_follow_up_question_uses_the_procedure_in_context() -> None:
    tracker = make_tracker("y que documentos hacen falta", "procedure_documents", slots={"procedure": "rent-aid"})
    dispatcher, _ = await run(ActionAnswerProcedure(), tracker)
    assert response_names(dispatcher)[0] == "utter_procedure_documents"


async def test_unknown_named_procedure_says_so_and_offers_buttons() -> None:
    tracker = make_tracker("info de la ayuda xyzzy", "procedure_info", [("procedure", "ayuda xyzzy")])
    dispatcher, _ = await run(ActionAnswerProcedure(), tracker)
    assert response_names(dispatcher) == ["utter_procedure_not_found", "utter_ask_which_procedure"]


async def test_procedure_list_pages() -> None:
    dispatcher, _ = await run(ActionListProcedures(), make_tracker("que ayudas hay", "procedure_list"))
    message = dispatcher.messages[0]
    assert message["response"] == "utter_procedure_list" and message["page"] == 1
    assert message["buttons"][-1]["payload"] == '/procedure_list{"page":"2"}'
    last, _ = await run(ActionListProcedures(), make_tracker("", "procedure_list", [("page", "99")]))
    assert last.messages[0]["page"] == last.messages[0]["pages"]


async def test_centre_info_by_name_and_without_name() -> None:
    dispatcher, _ = await run(ActionCentreInfo(), make_tracker("horario del centro social de El Grau", "centre_info",
                                                               [("centre", "centro social de El Grau")]))
    names = response_names(dispatcher)
    assert names[0] == "utter_centre_details" and names[-1] == "utter_centre_accessibility"
    assert any(name.startswith("utter_centre_open_now") or name.startswith("utter_centre_closed") for name in names)
    unnamed, _ = await run(ActionCentreInfo(), make_tracker("a que hora abris", "centre_info"))
    assert response_names(unnamed) == ["utter_ask_which_centre"]
    assert unnamed.messages[0]["buttons"][-1]["payload"] == "/find_my_centre"


@pytest.mark.parametrize("text, entities, need", [
    ("calle de los inventos 5", [("street", "calle de los inventos")], "street_not_found"),
    ("carrer major", [], "need_number"),
])
async def test_centre_search_asks_for_what_is_missing(text, entities, need) -> None:
    tracker = make_tracker(text, "find_my_centre", entities, slots={"requested_slot": "centre_district"})
    extracted = slots_of((await run(ValidateCentreSearchForm(), tracker))[1])
    assert extracted["centre_search_need"] == need and "centre_district" not in extracted
    ask_tracker = make_tracker(text, "find_my_centre", slots=extracted)
    dispatcher, _ = await run(ActionAskCentreDistrict(), ask_tracker)
    expected = {"street_not_found": "utter_street_not_found", "need_number": "utter_ask_street_number"}[need]
    assert response_names(dispatcher)[0] == expected


async def test_centre_search_completes_and_answers() -> None:
    tracker = make_tracker("46981", "find_my_centre", slots={"requested_slot": "centre_district"})
    extracted = slots_of((await run(ValidateCentreSearchForm(), tracker))[1])
    assert extracted["centre_district"] == "eixample"
    dispatcher, events = await run(ActionAnswerMyCentre(), make_tracker("", slots={"centre_district": "eixample"}))
    assert response_names(dispatcher)[:2] == ["utter_your_centre", "utter_centre_details"]
    assert all(value is None for value in slots_of(events).values())


async def test_the_message_that_starts_the_search_is_read() -> None:
    tracker = make_tracker("que centro me toca? vivo en la calle de la paz 14", "find_my_centre")
    _, events = await run(ActionExtractCentreAddress(), tracker)
    assert slots_of(events)["centre_district"] == "centre-historic"
    in_form = make_tracker("calle de la paz 14", "find_my_centre")
    in_form.active_loop = {"name": "centre_search_form"}
    assert (await run(ActionExtractCentreAddress(), in_form))[1] == []  # the form reads it itself
    other = make_tracker("horario del centro de benimar", "centre_info")
    assert (await run(ActionExtractCentreAddress(), other))[1] == []
    split = make_tracker("vivo en la calle de la paz 14", "find_my_centre",
                         [("street", "de"), ("street", "la"), ("street", "carrer-de-la-pau"), ("street_number", "14")])
    assert slots_of((await run(ActionExtractCentreAddress(), split))[1])["centre_district"] == "centre-historic"


async def test_centre_search_ignores_messages_about_something_else() -> None:
    tracker = make_tracker("gracias", "thank", slots={"requested_slot": "centre_district"})
    assert (await run(ValidateCentreSearchForm(), tracker))[1] == []


async def test_privacy_notice_once_per_session_and_fallback_reset() -> None:
    first, events = await run(ValidateSlotMappings(), make_tracker("hola", "greet", slots={"fallback_count": 1.0}))
    assert response_names(first) == ["utter_privacy_notice"]
    assert first.messages[0]["privacy_url"].startswith("https://")
    assert slots_of(events) == {"privacy_notice_shown": True, "fallback_count": 0.0}
    later, events = await run(ValidateSlotMappings(), make_tracker("hola", "greet", slots={"privacy_notice_shown": True}))
    assert response_names(later) == [] and events == []


async def test_session_start_keeps_only_the_language() -> None:
    _, events = await run(ActionSessionStart(), make_tracker(slots={"language": "va", "procedure": "rent-aid"}))
    assert [e["event"] for e in events] == ["session_started", "slot", "action"]
    assert slots_of(events) == {"language": "va"}


@pytest.mark.parametrize("slots, detection, intent, entities, expected", [
    ({}, {"language": "ca", "reliable": False}, "greet", [], "va"),
    ({"language": "va"}, {"language": "es", "reliable": False}, "affirm", [], None),  # "ok" keeps it
    ({"language": "va"}, {"language": "es", "reliable": True}, "procedure_info", [], "es"),
    ({"language": "es"}, {"language": "es", "reliable": True}, "change_language", [("language", "ca")], "ca"),
])
async def test_detect_language(slots, detection, intent, entities, expected) -> None:
    tracker = make_tracker("x", intent, entities, slots=slots, language_detection=detection)
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == ([SlotSet("language", expected)] if expected else [])


async def test_change_language_confirms_or_asks() -> None:
    asked, _ = await run(ActionChangeLanguage(), make_tracker("cambiar idioma", "change_language"))
    assert response_names(asked) == ["utter_ask_which_language"]
    done, _ = await run(ActionChangeLanguage(), make_tracker("en valencia", "change_language", [("language", "va")]))
    assert response_names(done) == ["utter_language_changed"]


async def test_two_consecutive_misunderstandings_offer_a_person() -> None:
    first, events = await run(ActionHandleFallback(), make_tracker("asdf qwer", "nlu_fallback"))
    assert response_names(first) == ["utter_did_not_understand"]
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "action_listen"}
    second, events = await run(ActionHandleFallback(),
                               make_tracker("zxcv", "nlu_fallback", slots=slots_of(events)))
    assert response_names(second) == ["utter_offer_human"]


@pytest.mark.parametrize("issue, response", [("empty", "utter_empty_message"), ("too_long", "utter_message_too_long")])
async def test_guarded_messages_get_their_own_answer(issue: str, response: str) -> None:
    tracker = make_tracker("", "nlu_fallback", extra={"message_guard": {"issue": issue, "max_length": 2000}})
    dispatcher, events = await run(ActionHandleFallback(), tracker)
    assert response_names(dispatcher) == [response]
    assert [e["event"] for e in events] == ["followup"]  # no misunderstanding counted


async def test_urgent_contacts_come_from_kb_in_order(kb) -> None:
    dispatcher, _ = await run(ActionUrgentContacts(), make_tracker("", "urgent_help", slots={"language": "ca"}))
    lines = dispatcher.messages[0]["contacts"].splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == [c.phone for c in kb.municipality.emergency_contacts]
    assert lines[0].startswith(kb.municipality.emergency_contacts[0].label["ca"])


@pytest.mark.parametrize("intent", ["case_status", "report_incident", "human_handoff"])
async def test_features_not_yet_built_get_an_honest_answer(intent: str) -> None:
    dispatcher, _ = await run(ActionServiceUnavailable(), make_tracker("", intent))
    message = dispatcher.messages[0]
    assert message["response"] == f"utter_{intent}_unavailable"
    assert message["phone"] and message["e_office_url"].startswith("https://")


@pytest.mark.parametrize("asked, said, expected", [
    ("utter_offer_human", "affirm", "utter_handoff_"),  # the handoff itself, in this turn
    ("utter_offer_human", "deny", "utter_help_menu"),
    ("utter_procedure_followup", "affirm", "utter_anything_else"),
    (None, "deny", "utter_anything_else"),
])
async def test_a_typed_yes_or_no_answers_the_offer_of_a_person(asked, said: str, expected: str) -> None:
    tracker = make_tracker("sí" if said == "affirm" else "no", said, slots={"language": "es"})
    tracker.sender_id = f"test-yes-no-{asked}-{said}"
    offer = [{"event": "bot", "text": "¿Quiere hablar con una persona?", "metadata": {"utter_action": asked}}]
    tracker.events = [{"event": "user", "text": "qwerty"}, *(offer if asked else []),
                      {"event": "action", "name": "action_listen"}, {"event": "user", "text": "sí"}]
    dispatcher, events = await run(ActionAnswerYesNo(), tracker)
    assert len(dispatcher.messages) == 1 and response_names(dispatcher)[0].startswith(expected)
    assert bool(slots_of(events).get("handoff_ticket")) == (expected == "utter_handoff_")
