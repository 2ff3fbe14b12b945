"""Twilio messaging (SMS, WhatsApp) and voice end to end, against a local fake of Twilio.

Webhooks are signed for the public URL (as behind a TLS-terminating proxy) and delivered to the
local server."""

from __future__ import annotations

import random
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, List

import pytest

from tests.fakes.twilio import FakeTwilio, twilio_signature
from tests.integration.conftest import TWILIO_PUBLIC_URL, TWILIO_SMS_NUMBER, TWILIO_TRANSFER_NUMBER
from vecina.channels.outbound import OutboundStore
from vecina.content import ResponseTexts
from vecina.settings import ROOT
from vecina.stack import Stack

pytestmark = pytest.mark.integration
TEXTS = ResponseTexts(ROOT / "domain")


def new_phone() -> str:
    return f"+346{random.randint(10**7, 10**8 - 1)}"


def post(stack: Stack, twilio: FakeTwilio, path: str, params: Dict[str, str], **kwargs: Any):
    return twilio.post(TWILIO_PUBLIC_URL + path, stack.rasa_url + path, params, **kwargs)


def user_events(stack: Stack, conversation: str) -> List[Dict[str, Any]]:
    return [e for e in stack.tracker(conversation)["events"]
            if e["event"] == "user" and not (e.get("metadata") or {}).get("is_external")]


def wait_for(condition, seconds: float = 40):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def call(stack: Stack, twilio: FakeTwilio, caller: str, query: str = "", **fields: str) -> ET.Element:
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": twilio.account_sid, "From": caller, "To": "+34960000000",
              "CallStatus": "in-progress", **fields}
    status, body = post(stack, twilio, f"/webhooks/twilio_voice/webhook{query}", params)
    assert status == 200, body
    return ET.fromstring(body)


# --- messaging --------------------------------------------------------------------------------
def test_forged_and_malformed_twilio_requests_are_refused(stack: Stack, twilio: FakeTwilio) -> None:
    phone = new_phone()
    params = twilio.message(phone, TWILIO_SMS_NUMBER, Body="hola")
    path = "/webhooks/twilio/webhook"
    assert post(stack, twilio, path, params, signature=None)[0] == 401
    assert post(stack, twilio, path, params, signature="bm90IHRoZSBzaWduYXR1cmU=")[0] == 403
    tampered = dict(params, Body="adiós")
    assert twilio.post(TWILIO_PUBLIC_URL + path, stack.rasa_url + path, tampered,
                       signature=twilio_signature(twilio.auth_token, TWILIO_PUBLIC_URL + path, params))[0] == 403
    status, body = post(stack, twilio, path, {"From": phone})  # signed, but no MessageSid
    assert status == 400 and "Traceback" not in body
    assert post(stack, twilio, path, dict(params, Body="x" * (1024 * 1024)))[0] == 413
    voice = "/webhooks/twilio_voice/webhook"
    assert post(stack, twilio, voice, {"From": phone}, signature="Zm9yZ2Vk")[0] == 403
    assert post(stack, twilio, voice, {"From": phone}, signature=None)[0] == 401
    assert post(stack, twilio, voice, {"CallSid": "CA1", "From": "anonymous"})[0] == 400
    assert post(stack, twilio, voice, {"CallSid": "CA1", "From": phone, "SpeechResult": "x" * (1024 * 1024)})[0] == 413
    time.sleep(1.5)
    assert twilio.sent_to(phone) == [] and user_events(stack, f"twilio:{phone}") == []


def test_sms_options_are_numbered_and_a_number_picks_one(stack: Stack, twilio: FakeTwilio) -> None:
    phone = new_phone()
    assert post(stack, twilio, "/webhooks/twilio/webhook", twilio.message(phone, TWILIO_SMS_NUMBER, Body="hola"))[0] \
        == 200
    menu = wait_for(lambda: [m for m in twilio.sent_to(phone) if "\n1. " in m.get("Body", "")])[-1]
    assert menu["From"] == TWILIO_SMS_NUMBER and TEXTS.text("utter_text_reply_with_number", "es") in menu["Body"]
    assert all(len(m["Body"]) <= 1600 for m in twilio.sent_to(phone))
    post(stack, twilio, "/webhooks/twilio/webhook", twilio.message(phone, TWILIO_SMS_NUMBER, Body="2"))
    events = wait_for(lambda: len(user_events(stack, f"twilio:{phone}")) >= 2 and user_events(stack, f"twilio:{phone}"))
    assert events[1]["parse_data"]["intent"]["name"] == "find_my_centre"

    outbound = OutboundStore(f"sqlite:///{stack.workdir / 'vecina.db'}")
    status = {"MessageSid": menu["sid"], "MessageStatus": "delivered", "AccountSid": twilio.account_sid}
    assert post(stack, twilio, "/webhooks/twilio/status", status)[0] == 200
    assert outbound.status(outbound.by_provider_id("twilio", menu["sid"]).id)["status"] == "delivered"


def test_twilio_whatsapp_outside_the_window_sends_the_content_template(stack: Stack, twilio: FakeTwilio) -> None:
    citizen = f"whatsapp:{new_phone()}"
    stack.trigger(f"twilio:{citizen}", "help_menu", "twilio")
    [template] = wait_for(lambda: twilio.sent_to(citizen))
    assert template["ContentSid"] == twilio.content_sids[0] and "Body" not in template
    reopen = twilio.message(citizen, "whatsapp:+34960000001", ButtonPayload="vecina:reopen", ButtonText="Ver")
    assert post(stack, twilio, "/webhooks/twilio/webhook", reopen)[0] == 200
    released = wait_for(lambda: twilio.sent_to(citizen)[1:])
    assert released[0]["Body"] and "ContentSid" not in released[0]


def test_a_template_quick_reply_reaches_the_intent(stack: Stack, twilio: FakeTwilio) -> None:
    citizen = f"whatsapp:{new_phone()}"
    outbound = OutboundStore(f"sqlite:///{stack.workdir / 'vecina.db'}")
    reminder = outbound.record("twilio", f"twilio:{citizen}", "template", {
        "ContentSid": "HXreminder", "options": '[{"payload": "/help_menu"}, {"payload": "/goodbye"}]'})
    outbound.sent(reminder.id, "SMtemplate0000000000000000000001", 1)
    tap = twilio.message(citizen, "whatsapp:+34960000001", ButtonPayload="/help_menu", ButtonText="Menú",
                         OriginalRepliedMessageSid="SMtemplate0000000000000000000001")
    assert post(stack, twilio, "/webhooks/twilio/webhook", tap)[0] == 200
    events = wait_for(lambda: user_events(stack, f"twilio:{citizen}"))
    assert events[0]["parse_data"]["intent"]["name"] == "help_menu"


# --- voice ------------------------------------------------------------------------------------
def test_a_call_is_greeted_and_a_key_picks_an_option(stack: Stack, twilio: FakeTwilio) -> None:
    caller = new_phone()
    greeting = call(stack, twilio, caller)
    gather = greeting.find("Gather")
    assert gather is not None and gather.get("language") == "es-ES" and gather.get("input") == "speech dtmf"
    said = " ".join(s.text or "" for s in gather.findall("Say"))
    option = TEXTS.text("utter_text_voice_option", "es")
    assert option.format(title="Mi centro social", number=2) in said
    assert greeting.find("Redirect").text.endswith("?silence=1")

    call(stack, twilio, caller, Digits="1")
    first = TEXTS.responses["utter_greet"][0]["buttons"][0]["payload"]  # what option 1 was
    assert user_events(stack, f"twilio_voice:{caller}")[-1]["parse_data"]["intent"]["name"] == first.lstrip("/")


def test_a_call_in_catalan_is_heard_and_spoken_in_catalan(stack: Stack, twilio: FakeTwilio) -> None:
    caller = new_phone()
    call(stack, twilio, caller)
    answer = call(stack, twilio, caller, SpeechResult="bon dia, quins documents calen per a la teleassistència?",
                  Confidence="0.92")
    gather = answer.find("Gather")
    assert gather.get("language") == "ca-ES"
    assert {s.get("language") for s in gather.findall("Say")} == {"ca-ES"}


def test_silence_reprompts_then_ends_the_call(stack: Stack, twilio: FakeTwilio) -> None:
    caller = new_phone()
    call(stack, twilio, caller)
    first = call(stack, twilio, caller, query="?silence=1")
    said = [s.text for s in first.find("Gather").findall("Say")]
    assert said[0] == TEXTS.text("utter_voice_reprompt", "es") and len(said) > 1  # then the question again
    assert first.find("Redirect").text.endswith("?silence=2")
    last = call(stack, twilio, caller, query="?silence=3")
    assert last.find("Hangup") is not None and last.find("Say").text == TEXTS.text("utter_voice_goodbye", "es")
    assert len(user_events(stack, f"twilio_voice:{caller}")) == 1  # silences are not turns


def test_asking_for_a_person_transfers_the_call(stack: Stack, twilio: FakeTwilio) -> None:
    caller = new_phone()
    call(stack, twilio, caller)
    answer = call(stack, twilio, caller, SpeechResult="quiero hablar con una persona")
    assert answer.find("Dial").text == TWILIO_TRANSFER_NUMBER
    assert answer.find("Say").text == TEXTS.text("utter_voice_transfer", "es")


def test_a_call_gets_its_appointments_by_sms_and_cannot_cancel_them(stack: Stack, twilio: FakeTwilio) -> None:
    """The caller ID can be spoofed: what the call asks about appointments goes by SMS to the number
    itself, and nothing is cancelled on the caller ID alone."""
    from vecina.kb.store import KbReader
    from vecina.services.appointments import Citizen, DatabaseBackend
    from vecina.services.dates import DateRequest
    from vecina.services.handoff import local_now

    caller, database = new_phone(), f"sqlite:///{stack.workdir / 'vecina.db'}"
    moment = local_now(KbReader(database).current()).replace(tzinfo=None)  # the municipality's time, as the actions'
    agenda = DatabaseBackend(database, KbReader(database))
    slot = agenda.free_slots("oac-ajuntament", "census", DateRequest(first_available=True), moment)[0]
    appointment = agenda.book(slot, Citizen(f"twilio_voice:{caller}", "twilio_voice", "es", caller), None,
                              f"voice-{caller}", moment)
    when, hour = f"{slot.starts_at:%d/%m}", f"{slot.starts_at:%H:%M}"

    call(stack, twilio, caller)
    answer = call(stack, twilio, caller, SpeechResult="quiero saber qué citas tengo", Confidence="0.9")
    assert user_events(stack, f"twilio_voice:{caller}")[-1]["parse_data"]["intent"]["name"] == "appointment_list"
    spoken = " ".join(s.text or "" for s in answer.iter("Say"))
    assert TEXTS.text("utter_appointment_by_phone_sms_sent", "es").format(phone="010") in spoken
    assert when not in spoken and hour not in spoken
    [text] = wait_for(lambda: twilio.sent_to(caller))
    assert text["From"] == TWILIO_SMS_NUMBER and when in text["Body"] and hour in text["Body"]

    answer = call(stack, twilio, caller, SpeechResult="quiero anular mi cita", Confidence="0.9")
    assert user_events(stack, f"twilio_voice:{caller}")[-1]["parse_data"]["intent"]["name"] == "appointment_cancel"
    spoken = " ".join(s.text or "" for s in answer.iter("Say"))
    assert when not in spoken and hour not in spoken
    assert [a.id for a in agenda.upcoming(f"twilio_voice:{caller}", moment)] == [appointment.id]  # still on
