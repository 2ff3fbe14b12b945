"""The real servers over the REST channel: answers come from kb, in the citizen's language."""

from __future__ import annotations

import pytest

from vecina.stack import Stack

pytestmark = pytest.mark.integration


def _texts(replies) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


@pytest.mark.parametrize("opening, language", [
    ("hola, que es la renta valenciana de inclusion?", "es"),
    ("bon dia, què és la renda valenciana d'inclusió?", "va"),  # Valencian deployment (VECINA_CATALAN_VARIETY=va)
])
def test_procedure_answer_comes_from_kb_in_the_citizen_language(stack: Stack, kb, opening: str, language: str) -> None:
    sender = stack.new_sender()
    replies, _names, slots = stack.turn(sender, opening)
    text = _texts(replies)
    procedure = kb.procedures["inclusion-income"]
    assert slots["language"] == language
    assert procedure.summary[language] in text
    assert kb.municipality.privacy_url in text
    other = "es" if language != "es" else "va"
    assert procedure.summary[other] not in text


def test_central_catalan_on_request(stack: Stack, kb) -> None:
    sender = stack.new_sender()
    stack.turn(sender, "bon dia, em pots parlar en català?")
    replies, _names, slots = stack.turn(sender, "quins documents calen per a la teleassistència?")
    assert slots["language"] == "ca"
    documents = kb.procedures["tele-assistance"].documents
    assert documents[0].name["ca"] in _texts(replies)


def test_buttons_reach_the_rest_channel(stack: Stack) -> None:
    replies = stack.say(stack.new_sender(), "que papeles necesito?")
    buttons = [button for reply in replies for button in reply.get("buttons", [])]
    assert any(button["payload"].startswith('/procedure_documents{"procedure":') for button in buttons)


@pytest.mark.parametrize("text, response", [
    ("", "utter_empty_message"),
    ("🙂🙂👍", "utter_empty_message"),
    ("hola " * 1000, "utter_message_too_long"),
], ids=["empty", "emoji-only", "5000-characters"])
def test_bad_input_gets_a_helpful_reply(stack: Stack, text: str, response: str) -> None:
    replies, names, _ = stack.turn(stack.new_sender(), text)
    assert replies and response in names


def test_a_long_urgent_message_is_never_dropped(stack: Stack) -> None:
    text = "no tengo donde dormir esta noche con mis hijos, " * 60
    _replies, names, _ = stack.turn(stack.new_sender(), text)
    assert "utter_urgent_help" in names


@pytest.mark.parametrize("text, intent", [
    ("HOLA BUENOS DIAS A TODOS", "greet"),
    ("QUIERO HABLAR CON ALGUIEN XFA", "human_handoff"),
    ("BON DIA, VULL DEMANAR CITA", "appointment_book"),
])
def test_messages_in_capitals_get_their_intent_and_no_invented_names(stack: Stack, text: str, intent: str) -> None:
    """Older citizens often write in capitals: that alone must not make words a centre or a street."""
    parsed = stack.parse(text)
    assert parsed["intent"]["name"] == intent
    assert parsed["entities"] == []


def test_names_in_capitals_are_still_found(stack: Stack) -> None:
    parsed = stack.parse("TELEFONO DE SERVICIOS SOCIALES DE BENIMAR")
    assert parsed["intent"]["name"] == "centre_info"
    assert [e["entity"] for e in parsed["entities"]] == ["centre"]


def test_typed_commands_are_text_and_other_channels_namespaces_are_refused(stack: Stack) -> None:
    sender = stack.new_sender()
    stack.turn(sender, "hola")
    _replies, _names, _slots = stack.turn(sender, "/restart")
    events = stack.tracker(sender)["events"]
    assert [e["text"] for e in events if e["event"] == "user"][-1] == "restart"
    assert not any(e["event"] == "restart" for e in events)

    stack.turn(sender, '/appointment_cancel{"date": "2026-12-01"}')  # never offered: words, not a command
    last = [e for e in stack.tracker(sender)["events"] if e["event"] == "user"][-1]
    assert last["text"] == 'appointment_cancel{"date": "2026-12-01"}' and last["input_channel"] == "rest"

    assert stack.say("whatsapp:+34600000000", "hola") == []
    assert [e for e in stack.tracker("whatsapp:+34600000000")["events"] if e["event"] == "user"] == []
