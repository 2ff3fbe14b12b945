"""Twilio pieces that need no server: TwiML for calls, numbered options."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

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
