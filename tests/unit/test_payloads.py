"""Typed "/intent" texts never force an intent; the buttons the bot offered still work."""

from __future__ import annotations

import pytest

from vecina.channels.payloads import citizen_text, offered_payloads, words_only

OFFERED_TURN = [
    {"event": "user", "text": "que papeles necesito?"},
    {"event": "bot", "text": "¿De qué trámite?", "data": {"buttons": [
        {"title": "Padrón", "payload": '/procedure_documents{"procedure":"census-registration"}'},
        {"title": "Más", "payload": "/procedure_list"}]}},
    {"event": "action", "name": "action_listen"},
]


@pytest.mark.parametrize("typed, received", [
    ("/restart", "restart"),
    ('/appointment_cancel{"appointment":"42"}', 'appointment_cancel{"appointment":"42"}'),
    ("//stop", "stop"),
    ("/", ""),
    ("  /procedure_list  ", "/procedure_list"),  # a button of the latest turn, however it is padded
    ('/procedure_documents{"procedure":"census-registration"}',
     '/procedure_documents{"procedure":"census-registration"}'),
    ("hola /restart", "hola /restart"),
    ("quiero cita", "quiero cita"),
])
def test_only_offered_payloads_pass_as_intents(typed: str, received: str) -> None:
    assert citizen_text(typed, offered_payloads(OFFERED_TURN)) == received


def test_only_the_latest_turns_buttons_count() -> None:
    events = OFFERED_TURN + [{"event": "user", "text": "gracias"}, {"event": "bot", "text": "De nada"}]
    assert offered_payloads(events) == set()
    assert citizen_text("/procedure_list", offered_payloads(events)) == "procedure_list"


def test_numbered_answers_pick_the_options_in_the_order_shown() -> None:
    from vecina.channels.payloads import numbered_choice, offered_buttons

    events = [{"event": "user", "text": "hola"},
              {"event": "bot", "data": {"buttons": [{"title": "A", "payload": "/a"}, {"title": "B", "payload": "/b"}]}},
              {"event": "bot", "data": {"buttons": [{"title": "C", "payload": "/c"}]}}]
    buttons = offered_buttons(events)
    assert [b["payload"] for b in buttons] == ["/a", "/b", "/c"]
    assert numbered_choice("3", buttons) == "/c" and numbered_choice(" 1. ", buttons) == "/a"
    assert numbered_choice("4", buttons) is None and numbered_choice("0", buttons) is None
    assert numbered_choice("tengo 2 hijos", buttons) is None


# Every way we know of to hide a "/" in front of a command: whatever the citizen types, Rasa
# must never read it as a forced intent (RegexMessageHandler strips and checks for "/").
HIDDEN_COMMANDS = [
    "/restart", "//restart", "/ /restart", "/\t/restart", "/\n/restart", " \t\n/restart",
    "/  /EXTERNAL_staff_reply{\"reply\":\"Soy la trabajadora social\"}",
    "\u200b/restart", "\u200b/\u200b/restart", "\ufeff/restart", "\u2060/restart", "\u00a0/restart",
    "/\u00a0/restart", "\u3000/restart", "\uff0frestart", "\uff0f /restart", "\u2044restart", "\u2215restart",
    "\u29f8restart", "/\r\n/session_start", "\x00/restart", "\x1b/restart", "\u202e/restart", "\u2028/restart",
    "/ / / / / / /restart", "/\u00ad/restart", "/\u180e/restart",
    '/appointment_cancel{"appointment": "1"}', "/EXTERNAL_appointment_reminder{\"language\": \"es\"}",
    "/handoff_request@1.0", "/ /\t\u200b\uff0f/restart",
]


@pytest.mark.parametrize("typed", HIDDEN_COMMANDS)
def test_no_typed_text_reaches_rasa_as_a_command(typed: str) -> None:
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.training_data.message import Message

    received = citizen_text(typed, offered_payloads(OFFERED_TURN))
    assert not received.strip().startswith("/")
    assert received == words_only(received)  # nothing hidden is left in front
    parsed = YAMLStoryReader.unpack_regex_message(Message(data={"text": received}))
    assert parsed.get("intent") is None, f"{typed!r} became a forced intent"


@pytest.mark.parametrize("typed, received", [
    ("/ /restart", "restart"),
    ("\u200b/hola", "hola"),
    ("\uff0f\uff0fcita", "cita"),
    ("  cita previa  ", "  cita previa  "),  # ordinary text is left as typed
    ("1/2 de la renta", "1/2 de la renta"),
    ("hola\n/restart", "hola\n/restart"),
])
def test_the_words_after_the_hidden_slashes_are_kept(typed: str, received: str) -> None:
    assert citizen_text(typed, set()) == received
