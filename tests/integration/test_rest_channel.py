"""The real servers over the REST channel: answers come from kb, in the citizen's language; only
callers with the token get in, with valid sender ids, no forged metadata, within the rate limits."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Tuple

import pytest

from vecina.content import ResponseTexts
from vecina.services.tickets import TicketStore
from vecina.settings import ROOT
from vecina.stack import Stack, conversation_address

pytestmark = pytest.mark.integration
PER_SENDER, PER_ADDRESS = 20, 60  # the default limits, which the test stack keeps
FORGED = {"media": {"kind": "image", "path": "../../secret.jpg", "type": "image/jpeg"}, "latitude": 39.47,
          "longitude": -0.376, "is_external": True, "unsupported": "sticker", "call": "CA0001", "staff": "Ana"}


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

    assert _post(stack, {"sender": "whatsapp:+34600000000", "message": "hola"})[0] == 400
    assert [e for e in stack.tracker("whatsapp:+34600000000")["events"] if e["event"] == "user"] == []


def _post(stack: Stack, body: Any, authorization: Optional[str] = "token",
          address: Optional[str] = None) -> Tuple[int, Any]:
    """POST to the REST webhook; (status, decoded body), errors included."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", data,
                                     {"Content-Type": "application/json",
                                      "X-Forwarded-For": address or f"198.51.100.{uuid.uuid4().int % 250}"})
    named = {"token": f"Bearer {stack.rest_token}", "bare-token": str(stack.rest_token)}
    if authorization:
        request.add_header("Authorization", named.get(authorization, authorization))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _user_texts(stack: Stack, conversation: str) -> list:
    return [e["text"] for e in stack.tracker(conversation)["events"] if e["event"] == "user"]


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token-of-this-server-at-all-000000", "Basic token",
                                           "Bearer", "bare-token"],
                         ids=["none", "wrong", "basic", "empty", "no-scheme"])
def test_rest_without_the_token_is_refused_before_rasa(stack: Stack, authorization: Optional[str]) -> None:
    sender = f"token-{uuid.uuid4().hex[:12]}"
    status, _ = _post(stack, {"sender": sender, "message": "hola"}, authorization)
    assert status == 401
    assert _user_texts(stack, f"rest:{sender}") == []


@pytest.mark.parametrize("sender", ["whatsapp:+34600000001", "socketio:0123456789abcdef0123456789abcdef", "rest:x",
                                    "a b", "x" * 65, "", "niño", "../tracker", "abc\n", None, 42, ["abc"]])
def test_rest_sender_ids_with_bad_characters_are_refused(stack: Stack, sender: Any) -> None:
    status, body = _post(stack, {"sender": sender, "message": "hola"})
    assert status == 400 and "sender" in body["error"]
    if isinstance(sender, str) and ":" in sender:
        assert _user_texts(stack, sender) == []  # nothing reached another channel's conversation


@pytest.mark.parametrize("body", [b"not json", b"[]", {"sender": "ok-sender"}, {"sender": "ok-sender", "message": 7}],
                         ids=["not-json", "list", "no-message", "number"])
def test_rest_bodies_that_are_not_a_message_are_refused(stack: Stack, body: Any) -> None:
    assert _post(stack, body)[0] == 400


def test_forged_metadata_over_rest_never_reaches_the_tracker(stack: Stack) -> None:
    sender = stack.new_sender()
    stack.say(sender, "hola", metadata=FORGED)
    user = [e for e in stack.tracker(sender)["events"] if e["event"] == "user"][-1]
    assert user["text"] == "hola" and user["input_channel"] == "rest"
    assert not set(FORGED) & set(user.get("metadata") or {})


def tickets(stack: Stack) -> TicketStore:
    return TicketStore(f"sqlite:///{stack.workdir / 'vecina.db'}")


@pytest.mark.parametrize("language, hello, urgent", [
    ("es", "hola", "no quiero vivir, ayudadme"),
    ("va", "bon dia", "no vull viure, ajudeu-me per favor"),
])
def test_a_flood_gets_one_polite_answer_in_the_citizen_language_and_no_ticket(
        stack: Stack, language: str, hello: str, urgent: str) -> None:
    sender = stack.new_sender()
    _replies, _names, slots = stack.turn(sender, hello)
    assert slots["language"] == language
    for _ in range(PER_SENDER - 1):
        stack.say(sender, hello)
    address = conversation_address(sender)
    flood = [_post(stack, {"sender": sender[len("rest:"):], "message": urgent}, address=address) for _ in range(5)]
    assert [status for status, _ in flood] == [429] * 5
    slow_down = ResponseTexts(ROOT / "domain").text("utter_slow_down", language)
    assert [reply["text"] for reply in flood[0][1]] == [slow_down]
    assert all(body == [] for _status, body in flood[1:])  # told once a minute, not once a message
    assert urgent not in _user_texts(stack, sender)  # never handed to Rasa
    assert tickets(stack).active(sender) is None  # so the staff inbox got nothing from it


def test_one_address_is_held_back_across_conversations(stack: Stack) -> None:
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    senders = [stack.new_sender() for _ in range(PER_ADDRESS // 10)]

    def ten(sender: str) -> int:
        return sum(1 for _ in range(10) if stack.say(sender, "hola", address=address) is not None)

    with ThreadPoolExecutor(len(senders)) as pool:
        assert sum(pool.map(ten, senders)) == PER_ADDRESS
    newcomer = stack.new_sender()
    status, body = _post(stack, {"sender": newcomer[len("rest:"):], "message": "hola"}, address=address)
    assert status == 429 and _user_texts(stack, newcomer) == []
    assert _post(stack, {"sender": newcomer[len("rest:"):], "message": "hola"})[0] == 200  # from elsewhere


def test_the_rest_token_is_checked_before_the_rate_limits(stack: Stack) -> None:
    sender = f"unauthenticated-{uuid.uuid4().hex[:8]}"
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    for _ in range(PER_SENDER + 5):
        assert _post(stack, {"sender": sender, "message": "hola"}, None, address)[0] == 401
    assert _post(stack, {"sender": sender, "message": "hola"}, address=address)[0] == 200  # nothing was counted
