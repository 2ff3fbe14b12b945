"""Handing a conversation to a person, through the real servers: the ticket, the bot's silence,
the citizen cancelling, urgent help first."""

from __future__ import annotations

import pytest

from vecina.services.tickets import URGENT, TicketStore
from vecina.stack import Stack

pytestmark = pytest.mark.integration


def tickets(stack: Stack) -> TicketStore:
    return TicketStore(f"sqlite:///{stack.workdir / 'vecina.db'}")


HANDOFF_ANSWERS = {"utter_handoff_next", "utter_handoff_queue_one", "utter_handoff_queue", "utter_handoff_after_hours"}


@pytest.mark.parametrize("language, ask, then, cancel", [
    ("es", "quiero hablar con una persona", "vivo en la calle de la paz 14 y necesito ayuda con el alquiler",
     "ya no hace falta, gracias"),
    ("va", "vull parlar amb una persona", "visc al carrer de la pau 14 i necessite ajuda amb el lloguer",
     "ja no fa falta, gràcies"),
])
def test_a_person_takes_over_and_the_citizen_can_cancel(stack: Stack, language: str, ask: str, then: str,
                                                        cancel: str) -> None:
    sender = stack.new_sender()
    replies, names, slots = stack.turn(sender, ask)
    assert HANDOFF_ANSWERS & set(names), names
    ticket = tickets(stack).active(sender)
    assert ticket is not None and ticket.language == language and slots["handoff_ticket"] == ticket.id
    assert any(b["payload"] == "/cancel_handoff" for r in replies for b in r.get("buttons") or [])

    replies, names, _ = stack.turn(sender, then)
    assert replies == [] and names == []  # the bot stays silent
    assert [e["text"] for e in tickets(stack).entries(ticket.id)] == [then]
    replies, names, _ = stack.turn(sender, "hola")  # even a greeting goes to the person
    assert replies == [] and len(tickets(stack).entries(ticket.id)) == 2

    _replies, names, slots = stack.turn(sender, cancel)
    assert names == ["utter_handoff_cancelled"] and slots["handoff_ticket"] is None
    assert tickets(stack).active(sender) is None and tickets(stack).get(ticket.id).status == "cancelled"
    _replies, names, _ = stack.turn(sender, "hola")
    assert "utter_greet" in names  # the bot is back


def test_urgent_help_gets_the_emergency_numbers_first_and_the_top_of_the_queue(stack: Stack) -> None:
    calm = stack.new_sender()
    stack.turn(calm, "quiero hablar con alguien")
    sender = stack.new_sender()
    _replies, names, _ = stack.turn(sender, "no quiero vivir, ayudadme")
    assert names.index("utter_urgent_help") < min(names.index(n) for n in names if n in HANDOFF_ANSWERS)
    ticket = tickets(stack).active(sender)
    assert ticket.priority == URGENT and ticket.team == "social-services"
    queue = [t.conversation_id for t in tickets(stack).queue()]
    assert all(t.priority == URGENT for t in tickets(stack).queue()[:queue.index(sender)])
    assert queue.index(sender) < queue.index(calm)  # ahead of everyone who is not in danger
