"""Twilio pieces that need no server: TwiML for calls, numbered options, what a call texts its caller."""

from __future__ import annotations

import asyncio
import dataclasses
import xml.etree.ElementTree as ET
from typing import Optional

import pytest

from vecina.channels.twilio import TwilioConfig, TwilioVoiceInput, numbered
from vecina.content import ResponseTexts
from vecina.settings import ROOT, get_settings

CONFIG = TwilioConfig("http://twilio", "AC1", "token", "https://vecina.example.org", "+34960000001", "", "",
                      "+34960000099", "", "Google.es-ES-Standard-A", "Google.ca-ES-Standard-A")
TEXTS = ResponseTexts(ROOT / "domain")
MENU = [{"text": "Bon dia, en què el puc ajudar?", "buttons": [{"title": "Tràmits", "payload": "/procedure_list"},
                                                           {"title": "Cita", "payload": "/appointment_book"}]}]


def twiml(config: TwilioConfig, messages, language: str, intent: str) -> ET.Element:
    return ET.fromstring(str(TwilioVoiceInput(config, get_settings()).speak(messages, language, intent)))


def test_valencian_is_spoken_with_catalan_speech_settings_and_numbered_options() -> None:
    answer = twiml(CONFIG, MENU, "va", "greet")
    gather = answer.find("Gather")
    assert gather.get("language") == "ca-ES" and gather.get("numDigits") == "1"
    says = gather.findall("Say")
    assert {s.get("language") for s in says} == {"ca-ES"} and {s.get("voice") for s in says} == {"Google.ca-ES-Standard-A"}
    assert says[2].text == TEXTS.text("utter_text_voice_option", "va").format(title="Cita", number=2)
    assert gather.get("action") == "https://vecina.example.org/webhooks/twilio_voice/webhook"


def test_handoff_dials_the_number_or_enqueues_the_call() -> None:
    assert twiml(CONFIG, MENU, "es", "human_handoff").find("Dial").text == "+34960000099"
    queued = twiml(dataclasses.replace(CONFIG, transfer_queue="serveis-socials"), MENU, "ca", "human_handoff")
    assert queued.find("Enqueue").text == "serveis-socials" and queued.find("Dial") is None
    assert queued.find("Say").text == TEXTS.text("utter_voice_transfer", "ca")
    without = twiml(dataclasses.replace(CONFIG, transfer_number=""), MENU, "es", "human_handoff")
    assert without.find("Dial") is None and without.find("Gather") is not None  # the bot's own answer


def test_goodbye_hangs_up() -> None:
    answer = twiml(CONFIG, [{"text": "Adiós"}], "es", "goodbye")
    assert answer.find("Hangup") is not None and answer.find("Gather") is None


def test_sms_options_are_numbered_lines_with_the_hint() -> None:
    assert numbered("¿Qué desea?", MENU[0]["buttons"], "Responda con el número.") == \
        "¿Qué desea?\n1. Tràmits\n2. Cita\nResponda con el número."


# --- what a call must not hear: texted to the number calling -----------------------------------
def voice(database: str, config: TwilioConfig = CONFIG):  # type: ignore[no-untyped-def]
    from vecina.settings import Settings

    return TwilioVoiceInput(config, Settings(database_url=database))


def sms_turn(text: str = "Sus citas: lunes 24/11 a las 09:00", **extra: str) -> list:
    from vecina.channels.twilio import SMS_TO_CALLER

    return [{"text": "Le he enviado sus citas por SMS.", "utter_action": "utter_appointment_by_phone_sms_sent",
             "custom": {SMS_TO_CALLER: {"text": text, "response": "utter_appointment_sms_list",
                                        "otherwise": "Llame al 010.", **extra}}}]


def capture(channel: TwilioVoiceInput, monkeypatch, fail: Optional[str] = None) -> list:  # type: ignore[no-untyped-def]
    from vecina.channels.outbound import SendError

    sent = []

    async def send(fields):  # type: ignore[no-untyped-def]
        if fail:
            raise SendError(fail, False)
        sent.append(fields)
        return f"SM{len(sent):032d}"

    monkeypatch.setattr(channel.sms.api, "send", send)
    return sent


def test_what_the_action_asks_to_text_goes_to_the_caller_only(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecina.channels.outbound import OutboundStore

    channel = voice(database)
    sent = capture(channel, monkeypatch)
    said = asyncio.run(channel.text_caller(sms_turn(To="+34699999999"), "+34600123456"))
    assert [m["text"] for m in said] == ["Le he enviado sus citas por SMS."]
    assert [(f["To"], f["From"], f["Body"]) for f in sent] == [
        ("+34600123456", "+34960000001", "Sus citas: lunes 24/11 a las 09:00")]
    outbound = OutboundStore(database)
    record = outbound.by_provider_id("twilio", "SM" + "0" * 31 + "1")
    assert record.conversation_id == "twilio:+34600123456" and record.kind == "caller_sms"
    said_xml = ET.fromstring(str(channel.speak(said, "es", "appointment_list")))
    assert "24/11" not in ET.tostring(said_xml, encoding="unicode")


def test_a_text_that_cannot_go_out_is_replaced_by_where_to_go(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = voice(database)
    capture(refused, monkeypatch, fail="21610")  # the number does not take texts
    assert [m["text"] for m in asyncio.run(refused.text_caller(sms_turn(), "+34600123457"))] == ["Llame al 010."]
    no_sms = voice(database, dataclasses.replace(CONFIG, sms_from=""))
    sent = capture(no_sms, monkeypatch)
    assert [m["text"] for m in asyncio.run(no_sms.text_caller(sms_turn(), "+34600123458"))] == ["Llame al 010."]
    assert sent == []


def test_spoofed_calls_cannot_flood_a_number_with_texts(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecina.channels.twilio import CALLER_SMS_PER_DAY

    channel = voice(database)
    sent = capture(channel, monkeypatch)
    for _ in range(CALLER_SMS_PER_DAY + 2):
        said = asyncio.run(channel.text_caller(sms_turn(), "+34600123459"))
        assert said[0]["text"] == "Le he enviado sus citas por SMS."  # sent today already
    assert len(sent) == CALLER_SMS_PER_DAY
    asyncio.run(channel.text_caller(sms_turn(), "+34600123460"))  # another number is not held back
    assert len(sent) == CALLER_SMS_PER_DAY + 1


def test_other_messages_pass_as_they_are_and_are_collected_whole() -> None:
    from vecina.channels.twilio import CallCollector

    collector = CallCollector()
    asyncio.run(collector.send_response("twilio_voice:+34600123456", {
        "text": "Hola", "buttons": [{"title": "Cita", "payload": "/appointment_book"}], "custom": {"x": 1}}))
    assert collector.messages == [{"recipient_id": "twilio_voice:+34600123456", "text": "Hola",
                                   "buttons": [{"title": "Cita", "payload": "/appointment_book"}], "custom": {"x": 1}}]
    channel = TwilioVoiceInput(CONFIG, get_settings())
    assert asyncio.run(channel.text_caller(MENU + collector.messages, "+34600123456")) == MENU + collector.messages


def test_the_action_and_the_channel_agree_on_the_payload() -> None:
    import actions.appointments
    import vecina.channels.twilio

    assert actions.appointments.SMS_TO_CALLER == vecina.channels.twilio.SMS_TO_CALLER
    assert actions.appointments.VOICE_CHANNEL == vecina.channels.twilio.VOICE_CHANNEL
