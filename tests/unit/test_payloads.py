"""Typed "/intent" texts never force an intent; the buttons the bot offered still work."""

from __future__ import annotations

import pytest

from vecina.channels.payloads import citizen_text, offered_payloads

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
