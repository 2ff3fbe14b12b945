"""The action server's answer to a failing action names the action only: never the tracker rasa-sdk
would send back (everything the citizen wrote), never the error's text."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager

from vecina.action_server import ActionServerPlugin, failed_action

TRACKER = {"next_action": "action_book_appointment", "sender_id": "whatsapp:+34600111222",
           "tracker": {"latest_message": {"text": "Soy Ana, DNI 12345678Z, vivo en Carrer Major 3"}}}


def test_rasa_sdk_finds_our_plugin_and_it_replaces_the_error_answer() -> None:
    plugin_manager.cache_clear()
    manager = plugin_manager()
    assert any(isinstance(plugin, ActionServerPlugin) for plugin in manager.get_plugins())
    app = create_app("actions")
    assert app.error_handler.lookup(Exception(), None).__name__ == "exception_handler"  # rasa-sdk's own
    manager.hook.attach_sanic_app_extensions(app=app)
    assert app.error_handler.lookup(RuntimeError(), None) is failed_action


async def test_the_answer_and_the_log_carry_nothing_the_citizen_wrote(caplog: pytest.LogCaptureFixture) -> None:
    request = SimpleNamespace(json=TRACKER)
    try:
        raise ValueError(f"bad booking for {TRACKER['sender_id']}: {TRACKER['tracker']}")
    except ValueError as error:
        with caplog.at_level(logging.DEBUG):
            answer = await failed_action(request, error)
    body = json.loads(answer.body)
    assert answer.status == 500 and body == {"error": "the action failed", "action_name": "action_book_appointment"}
    logged = caplog.text
    assert "action_book_appointment" in logged and "ValueError" in logged
    for secret in ("+34600111222", "12345678Z", "Carrer Major", "Ana"):
        assert secret not in logged


@pytest.mark.parametrize("body", [None, "not json", ["a list"], {"next_action": None}])
async def test_a_request_that_names_no_action_is_still_answered(body: object) -> None:
    class Unreadable:
        @property
        def json(self) -> object:
            if body == "not json":
                raise ValueError("Failed when parsing body as json")
            return body

    answer = await failed_action(Unreadable(), RuntimeError("x"))
    assert answer.status == 500 and json.loads(answer.body)["action_name"] == "unknown"


async def test_a_database_outage_answers_503_so_the_turn_is_tried_again() -> None:
    from sqlalchemy.exc import OperationalError

    outage = OperationalError("SELECT …", {}, Exception("could not connect to server"))
    assert (await failed_action(SimpleNamespace(json=TRACKER), outage)).status == 503
    assert (await failed_action(SimpleNamespace(json=TRACKER), KeyError("slot"))).status == 500
