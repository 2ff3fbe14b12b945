"""Telegram pieces that need no server: which updates become a conversation's message, and the
refusal a group gets instead (once per period, with nothing of the message or its sender kept)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Dict, Optional

import pytest

from vecina.channels.contacts import ContactBook
from vecina.channels.inbound import InboundStore
from vecina.channels.outbound import OutboundStore
from vecina.channels.telegram import (GROUP_NOTICE, GROUP_NOTICE_RESPONSE, GROUP_NOTICE_SECONDS, TelegramConfig,
                                      TelegramInput, group_callback, notice_language, parse_update)
from vecina.channels.webhook import Rejected
from vecina.content import ResponseTexts
from vecina.settings import ROOT, Settings

NOW = 1_790_000_000.0
PERSON, OTHER, GROUP, SUPERGROUP, CHANNEL_CHAT = 123456789, 555000111, -4012345678, -1001234567890, -1009876543210
TEXTS = ResponseTexts(ROOT / "domain")
LEASE = timedelta(seconds=30)


def message(chat: int, kind: str, sender: Optional[int], text: str = "hola", language_code: str = "es",
            key: str = "message") -> Dict[str, Any]:
    content: Dict[str, Any] = {"message_id": 7, "date": int(NOW), "chat": {"id": chat, "type": kind}, "text": text}
    if sender is not None:
        content["from"] = {"id": sender, "is_bot": False, "first_name": "Ana", "language_code": language_code}
    return {"update_id": 1001, key: content}


def tap(chat: int, kind: str, sender: int) -> Dict[str, Any]:
    return {"update_id": 1002, "callback_query": {
        "id": "cb-9", "from": {"id": sender, "is_bot": False}, "chat_instance": "1", "data": "/help_menu",
        "message": {"message_id": 8, "date": int(NOW), "chat": {"id": chat, "type": kind}}}}


def outcome(body: Dict[str, Any]) -> Any:
    """What the channel keeps of an update: its conversation, a group notice, or nothing."""
    deliveries = parse_update(body, "va", now=NOW).deliveries
    if not deliveries:
        return None
    [delivery] = deliveries
    if GROUP_NOTICE in delivery.payload:
        assert delivery.payload == {GROUP_NOTICE: delivery.payload[GROUP_NOTICE]}  # nothing of the message
        return ("notice", delivery.conversation_id, delivery.payload[GROUP_NOTICE])
    assert delivery.provider_id == str(body["update_id"])
    return ("conversation", delivery.conversation_id)


@pytest.mark.parametrize("body, expected", [
    (message(PERSON, "private", PERSON), ("conversation", f"telegram:{PERSON}")),
    (tap(PERSON, "private", PERSON), ("conversation", f"telegram:{PERSON}")),
    (message(GROUP, "group", PERSON), ("notice", f"telegram:{GROUP}", "es")),
    (message(SUPERGROUP, "supergroup", PERSON, "Bon dia a tothom, algú sap com demanar cita?"),
     ("notice", f"telegram:{SUPERGROUP}", "va")),
    (message(CHANNEL_CHAT, "channel", None, "Avís: demà tanquem", key="channel_post"),
     ("notice", f"telegram:{CHANNEL_CHAT}", "va")),
    (tap(GROUP, "group", PERSON), ("notice", f"telegram:{GROUP}", "es")),
    (tap(SUPERGROUP, "supergroup", OTHER), ("notice", f"telegram:{SUPERGROUP}", "es")),
    (message(PERSON, "private", OTHER), None),  # a "private" chat that is not its sender's
    (tap(PERSON, "private", OTHER), None),
    (message(PERSON, "private", None), None),  # no sender at all
    (message(PERSON, "secret", PERSON), None),  # an unknown chat type
    (message(PERSON, "private", PERSON, key="edited_message"), None),
])
def test_only_a_private_chat_with_its_own_sender_is_a_conversation(body, expected) -> None:  # type: ignore[no-untyped-def]
    assert outcome(body) == expected


def test_malformed_updates_are_refused() -> None:
    for body in ({"update_id": "x"}, {"update_id": 1, "message": {"chat": {"id": "1", "type": "private"}, "date": 1}},
                 {"update_id": 1, "message": {"date": 1}}, {"update_id": 1, "message": []}):
        with pytest.raises(Rejected) as refused:
            parse_update(body, now=NOW)
        assert refused.value.status == 400


def test_a_group_gets_one_notice_per_period() -> None:
    first = parse_update(message(GROUP, "group", PERSON), now=NOW).deliveries[0]
    again = parse_update(message(GROUP, "group", OTHER, "otra cosa"), now=NOW + 60).deliveries[0]
    other_group = parse_update(message(SUPERGROUP, "supergroup", PERSON), now=NOW).deliveries[0]
    later = parse_update(message(GROUP, "group", PERSON), now=NOW + GROUP_NOTICE_SECONDS).deliveries[0]
    assert first.provider_id == again.provider_id  # the store keeps one
    assert len({first.provider_id, other_group.provider_id, later.provider_id}) == 3
    assert str(PERSON) not in first.provider_id + first.address and str(OTHER) not in again.provider_id


@pytest.mark.parametrize("text, language_code, variety, expected", [
    ("Bon dia, voldria saber com demanar cita al centre social", "es", "va", "va"),
    ("Bon dia, voldria saber com demanar cita al centre social", "es", "ca", "ca"),
    ("Buenos días, ¿alguien sabe cómo pedir cita en servicios sociales?", "ca", "va", "es"),
    ("", "ca", "va", "va"),  # a photo without a caption: the sender's app language
    ("", "ca-ES", "ca", "ca"),
    ("", "en", "va", "es"),  # neither: Spanish
    ("", None, "va", "es"),
])
def test_the_notice_speaks_the_group_language(text, language_code, variety, expected) -> None:  # type: ignore[no-untyped-def]
    sender = {"id": PERSON, "language_code": language_code} if language_code else {"id": PERSON}
    assert notice_language(text, sender, variety) == expected


def test_a_tap_in_a_group_is_answered_but_a_private_one_is_left_to_the_turn() -> None:
    assert group_callback(tap(GROUP, "supergroup", PERSON)) == "cb-9"
    assert group_callback(tap(PERSON, "private", PERSON)) is None
    assert group_callback(message(GROUP, "group", PERSON)) is None


def channel(database: str, **values: Any) -> TelegramInput:
    settings = Settings(database_url=database, **values)
    return TelegramInput(TelegramConfig("http://telegram.invalid", "1:token", "secret"), settings)


def test_a_group_notice_is_stored_once_without_a_contact(database: str) -> None:
    telegram = channel(database)
    for sender, seconds in ((PERSON, 0), (OTHER, 30)):
        telegram.store(parse_update(message(GROUP, "group", sender), now=NOW + seconds))
    telegram.store(parse_update(message(PERSON, "private", PERSON), now=NOW))
    inbound, contacts = InboundStore(database), ContactBook(database)
    first = inbound.claim(LEASE)
    second = inbound.claim(LEASE)
    assert {first.conversation_id, second.conversation_id} == {f"telegram:{GROUP}", f"telegram:{PERSON}"}
    assert inbound.claim(LEASE) is None  # one notice for the group
    assert contacts.get(f"telegram:{GROUP}") is None and contacts.get(f"telegram:{OTHER}") is None
    assert contacts.get(f"telegram:{PERSON}") is not None


def test_a_notice_goes_out_once_and_never_reaches_rasa(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    telegram = channel(database, catalan_variety="ca")
    sent = []

    async def send(chat: int, body: Dict[str, Any]) -> str:
        sent.append((chat, body))
        return f"{chat}:{len(sent)}"

    monkeypatch.setattr(telegram.output.api, "send", send)
    telegram.app = None  # a Rasa turn would fail: no agent
    for seconds in (0, GROUP_NOTICE_SECONDS):  # the next period's notice finds the group told already
        telegram.store(parse_update(message(GROUP, "group", PERSON, "Bon dia, com puc demanar cita?"),
                                    "ca", now=NOW + seconds))
    inbound = InboundStore(database)
    for _ in range(2):
        claimed = inbound.claim(LEASE)
        asyncio.run(telegram.handle(claimed))
        inbound.done(claimed)
    assert sent == [(GROUP, {"method": "sendMessage",
                             "payload": {"text": TEXTS.text(GROUP_NOTICE_RESPONSE, "ca")}})]
    assert OutboundStore(database).last_id(f"telegram:{GROUP}") > 0


def test_nothing_of_a_conversation_is_sent_into_a_group(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tracker kept from before groups were refused (a reminder, a staff reply) stays out of the group."""
    telegram = channel(database)
    sent = []

    async def send(chat: int, body: Dict[str, Any]) -> str:
        sent.append(chat)
        return f"{chat}:1"

    monkeypatch.setattr(telegram.output.api, "send", send)
    asyncio.run(telegram.output.send_response(f"telegram:{GROUP}", {"text": "Recordatorio: cita mañana"}))
    asyncio.run(telegram.output.send_response(f"telegram:{PERSON}", {"text": "Recordatorio: cita mañana"}))
    assert sent == [PERSON]
