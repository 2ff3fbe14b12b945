"""The WhatsApp channel end to end: the fake Cloud API posts signed notifications to the real Rasa
server, the real action server answers, and the replies are counted at the fake."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
from sqlalchemy import select

from tests.fakes.meta import FakeMeta, limit_errors
from tests.integration.conftest import WHATSAPP_NUMBER, WHATSAPP_VERIFY_TOKEN

from vecina.channels.inbound import UNFINISHED, InboundStore
from vecina.channels.outbound import OutboundStore
from vecina.channels.whatsapp_format import template_body
from vecina.db import session_scope
from vecina.db.models import InboundMessage
from vecina.services.centres import AddressQuery, CentreDirectory
from vecina.stack import Stack

pytestmark = pytest.mark.integration


def new_citizen() -> str:
    return "346" + str(uuid.uuid4().int)[:8]


def webhook(stack: Stack) -> str:
    return f"{stack.rasa_url}/webhooks/whatsapp/webhook"


def database(stack: Stack) -> str:
    return f"sqlite:///{stack.workdir / 'vecina.db'}"


def user_events(stack: Stack, wa_id: str) -> List[Dict[str, Any]]:
    """What the citizen said (trigger_intent's external events left out)."""
    return [e for e in stack.tracker(f"whatsapp:+{wa_id}")["events"]
            if e["event"] == "user" and not (e.get("metadata") or {}).get("is_external")]


def waiting(stack: Stack, conversation: str) -> List[str]:
    """Texts of the conversation's stored messages that are not handled yet, oldest first."""
    with session_scope(database(stack)) as session:
        rows = session.execute(select(InboundMessage.payload).where(
            InboundMessage.conversation_id == conversation, InboundMessage.status.in_(UNFINISHED))
            .order_by(InboundMessage.id)).scalars().all()
    return [row["message"]["text"]["body"] for row in rows]


def settled(meta: FakeMeta, wa_id: str, seconds: float = 2.0, limit: float = 60) -> List[Dict[str, Any]]:
    """The messages sent to a citizen once nothing new has arrived for `seconds`."""
    deadline = time.monotonic() + limit
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        current = len(meta.sent_to(wa_id))
        if current != count:
            count, since = current, time.monotonic()
        elif current and time.monotonic() - since >= seconds:
            break
        time.sleep(0.2)
    return meta.sent_to(wa_id)


def body_text(message: Dict[str, Any]) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    if message["type"] == "interactive":
        return message["interactive"]["body"]["text"]
    return json.dumps(message)


def announced_size_answer(url: str, size: int) -> int:
    """The status for a POST that announces `size` bytes, read before sending any of them."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_meta_verification_needs_the_verify_token(stack: Stack, meta: FakeMeta) -> None:
    import urllib.error
    import urllib.request

    good = f"{webhook(stack)}?hub.mode=subscribe&hub.verify_token={WHATSAPP_VERIFY_TOKEN}&hub.challenge=1158201444"
    assert urllib.request.urlopen(good, timeout=10).read() == b"1158201444"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(good.replace(WHATSAPP_VERIFY_TOKEN, "guess"), timeout=10)
    assert refused.value.code == 403


def test_forged_malformed_and_oversized_requests_are_refused(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    body = meta.notification(WHATSAPP_NUMBER, [meta.message(wa_id, "text", {"body": "hola"})])
    raw = json.dumps(body).encode()
    store = InboundStore(database(stack))
    before = store.counts()

    assert meta.post(webhook(stack), body, signature=None)[0] == 401
    assert meta.post(webhook(stack), body, signature=meta.sign(raw, secret="not-the-app-secret"))[0] == 403
    tampered = raw.replace(b"hola", b"HOLA")
    assert meta.post(webhook(stack), None, signature=meta.sign(raw), raw=tampered)[0] == 403
    status, answer = meta.post(webhook(stack), None, raw=b'{"object": "whatsapp_business_account", "entry": [')
    assert status == 400 and "Traceback" not in answer and "line" not in answer
    status, _ = meta.post(webhook(stack), {"object": "whatsapp_business_account", "entry": [{"changes": [
        {"field": "messages", "value": {"metadata": {}}}]}]})
    assert status == 400
    huge = meta.notification(WHATSAPP_NUMBER, [meta.message(wa_id, "text", {"body": "x" * (1024 * 1024)})])
    assert meta.post(webhook(stack), huge)[0] == 413
    assert announced_size_answer(webhook(stack), 9 * 1024 * 1024) == 413  # refused before the body is read

    time.sleep(1.5)
    assert store.counts() == before
    assert user_events(stack, wa_id) == []
    assert meta.sent_to(wa_id) == []


def test_a_message_delivered_five_times_at_once_and_after_a_restart_is_answered_once(
        stack: Stack, meta: FakeMeta) -> None:
    reference = new_citizen()
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(reference, "text", {"body": "hola"}))
    one_turn = len(settled(meta, reference))
    assert one_turn >= 1

    wa_id = new_citizen()
    message = meta.message(wa_id, "text", {"body": "hola"})
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(lambda _: meta.deliver(webhook(stack), WHATSAPP_NUMBER, message)[0], range(5)))
    assert statuses == [200] * 5
    assert len(settled(meta, wa_id)) == one_turn

    stack.stop_server("rasa")
    stack.start_server("rasa")
    assert meta.deliver(webhook(stack), WHATSAPP_NUMBER, message)[0] == 200
    time.sleep(3)
    assert len(meta.sent_to(wa_id)) == one_turn
    assert [e["message_id"] for e in user_events(stack, wa_id)] == [message["id"]]
    assert all(limit_errors(m) == [] for m in meta.sent_to(wa_id))


def test_messages_wait_for_the_action_server_and_are_answered_once_in_order(stack: Stack, meta: FakeMeta,
                                                                           kb) -> None:
    wa_id = new_citizen()
    texts = ["hola", "qué es la teleasistencia", "gracias"]
    stack.stop_server("actions")
    try:
        for text in texts:
            assert meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": text}))[0] == 200
        time.sleep(4)
        assert meta.sent_to(wa_id) == []
        assert waiting(stack, f"whatsapp:+{wa_id}") == texts  # reading the tracker now would start its session
    finally:
        stack.start_server("actions")
    deadline = time.monotonic() + 90
    while len(user_events(stack, wa_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    settled(meta, wa_id)
    assert [e["text"] for e in user_events(stack, wa_id)] == texts
    sent = [body_text(m) for m in meta.sent_to(wa_id)]
    assert kb.municipality.privacy_url in sent[0]  # the session started with its custom action: no half turn
    assert any("teleasistencia" in text.lower() for text in sent)
    assert waiting(stack, f"whatsapp:+{wa_id}") == []


def test_list_reply_and_template_quick_reply_reach_the_intent(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola buenos días"}))
    menu = [m for m in settled(meta, wa_id) if m["type"] == "interactive"][-1]
    rows = menu["interactive"]["action"]["sections"][0]["rows"] if menu["interactive"]["type"] == "list" \
        else [b["reply"] for b in menu["interactive"]["action"]["buttons"]]
    chosen = next(row for row in rows if row["id"] == "/find_my_centre")
    reply_type = "list_reply" if menu["interactive"]["type"] == "list" else "button_reply"
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "interactive", {"type": reply_type, reply_type: {"id": chosen["id"], "title": chosen["title"]}},
        context=menu["id"]))
    deadline = time.monotonic() + 30
    while len(user_events(stack, wa_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert user_events(stack, wa_id)[-1]["parse_data"]["intent"]["name"] == "find_my_centre"

    outbound = OutboundStore(database(stack))
    reminder = outbound.record("whatsapp", f"whatsapp:+{wa_id}", "template",
                               template_body("appointment_reminder", "es", ["mañana"], ["/help_menu", "/goodbye"]))
    outbound.sent(reminder.id, "wamid.template-1", 1)
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "button", {"payload": "/help_menu", "text": "Ver el menú"}, context="wamid.template-1"))
    deadline = time.monotonic() + 30
    while len(user_events(stack, wa_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert user_events(stack, wa_id)[-1]["parse_data"]["intent"]["name"] == "help_menu"


def test_typed_slash_commands_are_read_as_text(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    for text in ("hola", "/restart", '/appointment_cancel{"date": "2026-12-01"}'):
        meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": text}))
    deadline = time.monotonic() + 40
    while len(user_events(stack, wa_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.3)
    events = stack.tracker(f"whatsapp:+{wa_id}")["events"]
    users = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in users[1:]] == ["restart", 'appointment_cancel{"date": "2026-12-01"}']
    assert users[1]["parse_data"]["intent"]["name"] != "restart"
    assert not any(e["event"] == "restart" for e in events)


def test_outside_the_24_hour_window_a_template_goes_first(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    conversation = f"whatsapp:+{wa_id}"
    old = meta.message(wa_id, "text", {"body": "hola"}, at=time.time() - 25 * 3600)
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, old)
    [template] = settled(meta, wa_id)
    assert template["type"] == "template" and template["template"]["name"] == "vecina_reopen"
    stack.trigger(conversation, "help_menu", "whatsapp")
    time.sleep(2)
    assert len(meta.sent_to(wa_id)) == 1  # held, and no second template
    assert [code for code, body in meta.refused if body.get("to") == wa_id] == []

    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "button", {"payload": "vecina:reopen", "text": "Ver mensaje"}, context=template["id"]))
    released = settled(meta, wa_id)[1:]
    assert released and all(m["type"] != "template" for m in released)
    assert len(user_events(stack, wa_id)) == 1  # the tap itself is not a turn

    recent = new_citizen()
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(recent, "text", {"body": "hola"}))
    before = len(settled(meta, recent))
    stack.trigger(f"whatsapp:+{recent}", "help_menu", "whatsapp")
    after = settled(meta, recent)
    assert len(after) > before and all(m["type"] != "template" for m in after)


def test_a_location_finds_the_centre_and_a_photo_reaches_the_conversation(stack: Stack, meta: FakeMeta, kb) -> None:
    wa_id = new_citizen()
    centre = kb.centres["css-el-grau"]
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola"}))
    settled(meta, wa_id)
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "location", {"latitude": centre.lat, "longitude": centre.lon, "name": "Casa"}))
    district = CentreDirectory(kb).resolve(AddressQuery(latitude=centre.lat, longitude=centre.lon)).district
    expected = kb.centres[district.centre]
    replies = settled(meta, wa_id)
    assert any(expected.name["es"] in body_text(m) or expected.name["va"] in body_text(m) for m in replies)

    photo = b"\xff\xd8\xff\xe0" + b"fake jpeg bytes" * 100
    meta.media["media-1"] = ("image/jpeg", photo)
    meta.media["media-2"] = ("application/x-msdownload", b"MZ")
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "image", {"id": "media-1", "mime_type": "image/jpeg", "sha256": "x"}))
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(
        wa_id, "document", {"id": "media-2", "mime_type": "application/x-msdownload", "filename": "a.exe"}))
    deadline = time.monotonic() + 30
    while len(user_events(stack, wa_id)) < 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    image, document = user_events(stack, wa_id)[2:4]
    assert image["parse_data"]["intent"]["name"] == "share_media"
    stored = image["metadata"]["media"]
    assert stored["kind"] == "image" and stored["size"] == len(photo)
    assert (Path(stack.workdir) / "media" / stored["file"]).read_bytes() == photo
    assert document["metadata"]["media"] == {"kind": "document", "rejected": "type_not_allowed"}
    assert [p.name for p in (Path(stack.workdir) / "media").iterdir()] == [stored["file"]]


def test_delivery_receipts_are_stored_and_never_reach_nlu(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola"}))
    first = settled(meta, wa_id)[0]
    statuses = [{"id": first["id"], "status": status, "timestamp": str(int(time.time())), "recipient_id": wa_id}
                for status in ("read", "delivered")]
    assert meta.post(webhook(stack), meta.notification(WHATSAPP_NUMBER, statuses=statuses))[0] == 200
    outbound = OutboundStore(database(stack))
    record = outbound.by_provider_id("whatsapp", first["id"])
    assert outbound.status(record.id)["status"] == "read"
    assert len(user_events(stack, wa_id)) == 1


def test_provider_errors_are_retried_and_the_outcome_recorded(stack: Stack, meta: FakeMeta) -> None:
    wa_id = new_citizen()
    meta.failures.extend([(500, {"message": "Service temporarily unavailable", "code": 131016}),
                          (429, {"message": "Rate limit hit", "code": 130429})])
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola"}))
    first = settled(meta, wa_id)[0]
    outbound = OutboundStore(database(stack))
    assert outbound.status(outbound.by_provider_id("whatsapp", first["id"]).id) == {
        "status": "sent", "error_code": None, "provider_id": first["id"], "attempts": 3}
    assert meta.failures == []
