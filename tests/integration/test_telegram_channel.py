"""The Telegram channel end to end, against a local fake of the Bot API."""

from __future__ import annotations

import random
import time
from typing import Any, Dict, List

import pytest

from tests.fakes.telegram import FakeTelegram
from vecina.stack import Stack

pytestmark = pytest.mark.integration


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
