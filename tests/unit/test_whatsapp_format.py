"""Rasa messages become WhatsApp payloads within Meta's limits; notifications parse strictly."""

from __future__ import annotations

import json

import pytest

from tests.fakes.meta import FakeMeta, limit_errors
from vecina.channels import whatsapp_format as fmt
from vecina.channels.webhook import Rejected
from vecina.channels.whatsapp import WhatsAppConfig, parse_notification, signature

LABELS = fmt.Labels("Ver opciones", "Más opciones", "Elija una opción:")


def buttons(count: int, title: str = "Opción número {}") -> list:
    return [{"title": title.format(i), "payload": f'/centre_info{{"centre":"css-{i}"}}'} for i in range(1, count + 1)]


def sendable(body: dict) -> dict:
    return {"messaging_product": "whatsapp", "to": "34600000001", **{k: v for k, v in body.items() if k != "options"}}


def test_two_short_options_are_reply_buttons() -> None:
    [body] = fmt.render({"text": "¿Qué desea?", "buttons": buttons(2, "Sí {}")}, LABELS)
    assert body["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in body["interactive"]["action"]["buttons"]] == \
        ['/centre_info{"centre":"css-1"}', '/centre_info{"centre":"css-2"}']
    assert limit_errors(sendable(body)) == []


def test_seven_options_are_one_list() -> None:
    [body] = fmt.render({"text": "Elija su centro", "buttons": buttons(7)}, LABELS)
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert body["interactive"]["type"] == "list" and len(rows) == 7
    assert body["interactive"]["action"]["button"] == "Ver opciones"
    assert limit_errors(sendable(body)) == []


def test_fourteen_options_are_paged_with_a_more_row() -> None:
    options = buttons(14, "Centro de servicios sociales de la zona {}")
    [first] = fmt.render({"text": "Elija su centro", "buttons": options}, LABELS)
    rows = first["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10 and rows[-1] == {"id": "vecina:more:2", "title": "Más opciones"}
    assert all(len(row["title"]) <= 24 for row in rows)
    assert rows[0]["description"] == "Centro de servicios sociales de la zona 1"
    second = fmt.options_body("Elija su centro", options, LABELS, page=2)
    rows2 = second["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows2] == [b["payload"] for b in options[9:]]
    for body in (first, second):
        assert limit_errors(sendable(body)) == []


def test_long_titles_turn_buttons_into_a_list() -> None:
    [body] = fmt.render({"text": "¿Qué desea?", "buttons": buttons(2, "Buscar mi centro de servicios sociales {}")},
                        LABELS)
    assert body["interactive"]["type"] == "list"
    assert limit_errors(sendable(body)) == []


def test_long_text_goes_first_and_payloads_too_long_for_an_id_are_indexed() -> None:
    long_payload = "/procedure_info" + json.dumps({"procedure": "x" * 300})
    bodies = fmt.render({"text": "palabra " * 700, "buttons": [{"title": "Sí", "payload": long_payload}]}, LABELS)
    assert [b["type"] for b in bodies] == ["text", "text", "interactive"]
    assert bodies[-1]["interactive"]["body"]["text"] == "Elija una opción:"
    option = bodies[-1]["interactive"]["action"]["buttons"][0]["reply"]["id"]
    assert option == "vecina:option:0"
    assert fmt.resolve_option(option, {"options": [{"payload": long_payload}]}) == long_payload
    assert all(limit_errors(sendable(b)) == [] for b in bodies)


def test_template_quick_replies_are_the_offered_payloads() -> None:
    body = fmt.template_body("appointment_reminder", "ca", ["dimarts 15"], ["/affirm", "/appointment_cancel"])
    assert fmt.option_payloads(body) == ["/affirm", "/appointment_cancel"]
    assert body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "dimarts 15"}]


CONFIG = WhatsAppConfig("http://meta", "v21.0", "token", "secret", "verify", ("111",), "")
TWO_NUMBERS = WhatsAppConfig("http://meta", "v21.0", "token", "secret", "verify", ("111", "222"), "")


def test_notifications_give_deliveries_and_receipts() -> None:
    meta = FakeMeta()
    text = meta.message("34600000001", "text", {"body": "hola"}, at=1_790_000_000)
    status = {"id": "wamid.out1", "status": "failed", "timestamp": "1790000100", "recipient_id": "34600000001",
              "errors": [{"code": 131047, "title": "Re-engagement message"}]}
    parsed = parse_notification(meta.notification("111", [text], [status]), CONFIG)
    [delivery] = parsed.deliveries
    assert delivery.conversation_id == "whatsapp:+34600000001" and delivery.route == "111"
    assert delivery.provider_id == text["id"]
    assert parsed.receipts[0].status == "failed" and parsed.receipts[0].error_code == "131047"


def test_several_numbers_keep_their_conversations_apart() -> None:
    meta = FakeMeta()
    text = meta.message("34600000001", "text", {"body": "hola"})
    [delivery] = parse_notification(meta.notification("222", [text]), TWO_NUMBERS).deliveries
    assert delivery.conversation_id == "whatsapp:222:+34600000001"
    assert TWO_NUMBERS.target("whatsapp:222:+34600000001") == ("222", "34600000001")
    assert TWO_NUMBERS.target("whatsapp:+34600000001") == ("111", "34600000001")
    assert CONFIG.target("telegram:12345") is None and CONFIG.target("whatsapp:999:+34600000001") is None
    assert parse_notification(meta.notification("333", [text]), CONFIG).deliveries == []


@pytest.mark.parametrize("body", [
    [], {"object": "page", "entry": []}, {"object": "whatsapp_business_account"},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "111"}, "messages": [{"from": "346", "id": "w", "type": "text",
                                                             "timestamp": "yesterday"}]}}]}]},
])
def test_malformed_notifications_are_rejected_with_400(body) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_notification(body, CONFIG)
    assert rejected.value.status == 400


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    meta = FakeMeta(app_secret="secret")
    assert signature("secret", b'{"a": 1}') == meta.sign(b'{"a": 1}')
