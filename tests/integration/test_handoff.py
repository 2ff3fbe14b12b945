"""Handing a conversation to a person, through the real servers: the ticket, the bot's silence,
the citizen cancelling, urgent help first."""

from __future__ import annotations

import time

import pytest

from tests.fakes.meta import FakeMeta
from tests.integration.conftest import WHATSAPP_NUMBER
from tests.integration.test_whatsapp_channel import new_citizen, settled, webhook
from vecina.services.tickets import HIGH, URGENT, TicketStore
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


NONSENSE = ("fjdksl qpwoei zmxn", "vbnrte yuiop lkjh")


@pytest.mark.parametrize("yes", ["sí, por favor", "sí"])
def test_a_typed_yes_to_the_offer_after_two_misunderstandings_reaches_a_person(stack: Stack, yes: str) -> None:
    sender = stack.new_sender()
    stack.turn(sender, NONSENSE[0])
    _replies, names, _ = stack.turn(sender, NONSENSE[1])
    assert names == ["utter_offer_human"]
    _replies, names, slots = stack.turn(sender, yes)
    assert len(names) == 1 and names[0] in HANDOFF_ANSWERS, names  # nothing after it
    ticket = tickets(stack).active(sender)
    assert (ticket.reason, ticket.priority) == ("misunderstood", HIGH) and slots["handoff_ticket"] == ticket.id


def test_a_typed_no_to_the_offer_shows_the_menu(stack: Stack) -> None:
    sender = stack.new_sender()
    for text in NONSENSE:
        stack.turn(sender, text)
    _replies, names, _ = stack.turn(sender, "no")
    assert names == ["utter_help_menu"] and tickets(stack).active(sender) is None


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


def test_a_staff_reply_reaches_the_citizens_whatsapp_and_closing_brings_the_bot_back(stack: Stack,
                                                                                    meta: FakeMeta) -> None:
    wa_id = new_citizen()
    conversation = f"whatsapp:+{wa_id}"
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "quiero hablar con una persona"}))
    before = len(settled(meta, wa_id))
    ticket = tickets(stack).active(conversation)
    assert ticket is not None and ticket.channel == "whatsapp"

    answer = "Hola, soy Ana. ¿En qué calle vive?"
    stack.trigger(conversation, "EXTERNAL_staff_reply", "whatsapp", {"staff_text": answer, "staff_name": "Ana"})
    replies = settled(meta, wa_id)[before:]
    assert len(replies) == 1 and replies[0]["text"]["body"] == f"Ana (Oficina de Atención a la Ciudadanía):\n{answer}"

    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "en la calle mayor 3"}))
    deadline = time.monotonic() + 30
    while not tickets(stack).entries(ticket.id) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert [e["text"] for e in tickets(stack).entries(ticket.id)] == ["en la calle mayor 3"]
    assert len(meta.sent_to(wa_id)) == before + 1  # the bot said nothing

    tickets(stack).close(ticket.id, "ana", "solved")
    stack.trigger(conversation, "EXTERNAL_handoff_closed", "whatsapp")
    resumed = settled(meta, wa_id)[before + 1:]
    assert len(resumed) == 1 and stack.tracker(conversation)["slots"]["handoff_ticket"] is None
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola"}))
    assert len(settled(meta, wa_id)) > before + 2  # the bot answers again
