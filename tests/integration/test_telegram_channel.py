"""The Telegram channel end to end, against a local fake of the Bot API."""

from __future__ import annotations

import random
import time
from typing import Any, Dict, List

import pytest
from sqlalchemy import create_engine, text

from tests.fakes.telegram import FakeTelegram
from vecina.content import ResponseTexts
from vecina.settings import ROOT
from vecina.stack import Stack

pytestmark = pytest.mark.integration
TEXTS = ResponseTexts(ROOT / "domain")


def webhook(stack: Stack) -> str:
    return f"{stack.rasa_url}/webhooks/telegram/webhook"


def new_chat() -> int:
    return random.randint(10**8, 10**9)


def user_events(stack: Stack, chat: int) -> List[Dict[str, Any]]:
    return [e for e in stack.tracker(f"telegram:{chat}")["events"]
            if e["event"] == "user" and not (e.get("metadata") or {}).get("is_external")]


def wait_user_events(stack: Stack, chat: int, count: int, seconds: float = 40) -> List[Dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = user_events(stack, chat)
        if len(events) >= count:
            return events
        time.sleep(0.3)
    raise AssertionError(f"chat {chat}: fewer than {count} user events after {seconds}s")


def test_wrong_or_missing_secret_and_bad_bodies_are_refused(stack: Stack, telegram: FakeTelegram) -> None:
    chat = new_chat()
    update = telegram.update(chat, text="hola")
    assert telegram.post(webhook(stack), update, secret="guessed") == 403
    assert telegram.post(webhook(stack), update, secret=None) == 401
    assert telegram.post(webhook(stack), None, raw=b"{not json") == 400
    assert telegram.post(webhook(stack), {"update_id": "x"}) == 400
    assert telegram.post(webhook(stack), telegram.update(chat, text="x" * (1024 * 1024 + 1))) == 413
    time.sleep(1.5)
    assert telegram.sent_to(chat) == [] and user_events(stack, chat) == []


def test_conversation_with_a_callback_query_button(stack: Stack, telegram: FakeTelegram) -> None:
    chat = new_chat()
    assert telegram.post(webhook(stack), telegram.update(chat, text="/start")) == 200
    assert wait_user_events(stack, chat, 1)[0]["parse_data"]["intent"]["name"] == "greet"
    telegram.wait_for(chat, 2)
    time.sleep(1)
    menu = [m for m in telegram.sent_to(chat, "sendMessage") if m.get("reply_markup")][-1]
    buttons = [row[0] for row in menu["reply_markup"]["inline_keyboard"]]
    chosen = next(b for b in buttons if b["callback_data"] == "/find_my_centre")
    callback = {"id": "cb-1", "from": {"id": chat, "is_bot": False}, "chat_instance": "1", "data": chosen["callback_data"],
                "message": {"message_id": menu["message_id"], "date": int(time.time()), "chat": {"id": chat, "type": "private"}}}
    assert telegram.post(webhook(stack), telegram.update(chat, callback_query=callback)) == 200
    assert wait_user_events(stack, chat, 2)[1]["parse_data"]["intent"]["name"] == "find_my_centre"
    assert {"callback_query_id": "cb-1"} in telegram.called("answerCallbackQuery")


def test_typed_commands_are_text(stack: Stack, telegram: FakeTelegram) -> None:
    chat = new_chat()
    telegram.post(webhook(stack), telegram.update(chat, text="hola"))
    telegram.post(webhook(stack), telegram.update(chat, text="/restart"))
    events = wait_user_events(stack, chat, 2)
    assert events[1]["text"] == "restart" and events[1]["parse_data"]["intent"]["name"] != "restart"
    assert not any(e["event"] == "restart" for e in stack.tracker(f"telegram:{chat}")["events"])


def test_a_proactive_message_through_trigger_intent_reaches_telegram(stack: Stack, telegram: FakeTelegram) -> None:
    chat = new_chat()
    telegram.post(webhook(stack), telegram.update(chat, text="hola"))
    wait_user_events(stack, chat, 1)
    time.sleep(1.5)
    before = len(telegram.sent_to(chat))
    stack.trigger(f"telegram:{chat}", "help_menu", "telegram")
    telegram.wait_for(chat, before + 1)
    time.sleep(1)
    events = stack.tracker(f"telegram:{chat}")["events"]
    external = max(i for i, e in enumerate(events) if e["event"] == "user")
    answers = [e for e in events[external:] if e["event"] == "bot"]
    assert answers and len(telegram.sent_to(chat)) - before == len(answers)
    assert [m["text"] for m in telegram.sent_to(chat)[before:]] == [e["text"] for e in answers]


def rows(stack: Stack, database: str, query: str, **values: Any) -> List[Any]:
    engine = create_engine(f"sqlite:///{stack.workdir / database}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query), values))
    finally:
        engine.dispose()


def test_a_group_is_told_once_to_write_privately_and_nothing_of_it_is_kept(stack: Stack,
                                                                            telegram: FakeTelegram) -> None:
    """In a group every member writes into the same chat, so nobody there is a verified sender."""
    group, member, other = -random.randint(10**12, 10**13), new_chat(), new_chat()
    ask = telegram.update(group, sender=member, chat_type="supergroup", language_code="es",
                          text="Bon dia, algú sap com demanar cita per al padró?")
    assert telegram.post(webhook(stack), ask) == 200
    [notice] = telegram.wait_for(group, 1)
    assert notice["text"] == TEXTS.text("utter_telegram_private_only", "va") and "reply_markup" not in notice

    again = telegram.update(group, sender=other, chat_type="supergroup", text="Yo también quiero una cita")
    tap = {"id": "cb-group", "from": {"id": other, "is_bot": False}, "chat_instance": "2", "data": "/appointment_list",
           "message": {"message_id": notice["message_id"], "date": int(time.time()),
                       "chat": {"id": group, "type": "supergroup"}}}
    assert telegram.post(webhook(stack), again) == 200
    assert telegram.post(webhook(stack), telegram.update(group, callback_query=tap)) == 200
    deadline = time.monotonic() + 20
    while {"callback_query_id": "cb-group"} not in telegram.called("answerCallbackQuery"):
        assert time.monotonic() < deadline, "the tap in the group was not answered"
        time.sleep(0.2)
    time.sleep(3)
    assert len(telegram.sent_to(group)) == 1  # one refusal, however much the group writes
    assert telegram.sent_to(member) == [] and telegram.sent_to(other) == []

    conversations = {f"telegram:{chat}" for chat in (group, member, other)}
    trackers = rows(stack, "tracker.db", "SELECT DISTINCT sender_id FROM events")
    assert conversations.isdisjoint(row[0] for row in trackers)  # no tracker: Rasa never heard of it
    contacts = rows(stack, "vecina.db", "SELECT conversation_id FROM channel_contacts")
    assert conversations.isdisjoint(row[0] for row in contacts)
    kept = rows(stack, "vecina.db", "SELECT conversation_id, provider_id, payload FROM inbound_messages")
    assert [row[0] for row in kept if row[0] in conversations] == [f"telegram:{group}"]  # the notice, done
    assert not [row for row in kept if str(member) in " ".join(map(str, row)) or "padr" in str(row[2])]


def test_a_private_chat_that_is_not_its_sender_is_ignored(stack: Stack, telegram: FakeTelegram) -> None:
    chat, intruder = new_chat(), new_chat()
    assert telegram.post(webhook(stack), telegram.update(chat, sender=intruder, text="mis citas")) == 200
    time.sleep(3)
    assert telegram.sent_to(chat) == []
    trackers = rows(stack, "tracker.db", "SELECT DISTINCT sender_id FROM events")
    assert f"telegram:{chat}" not in {row[0] for row in trackers}
