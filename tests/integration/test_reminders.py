"""Reminders end to end: `vecina reminders send` against the real Rasa and action servers, the
fake WhatsApp Cloud API on the other side, and the citizens' Confirm / Cancel taps coming back
through the signed webhook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from typing import Any, Dict, List

import pytest
from sqlalchemy import select, update

from tests.fakes.meta import FakeMeta
from tests.integration.conftest import JWT_SECRET, WHATSAPP_NUMBER
from tests.integration.test_whatsapp_channel import body_text, database, new_citizen, settled, webhook
from vecina.db import session_scope
from vecina.db.models import Appointment, Reminder, WaitingEntry
from vecina.kb.store import KbReader
from vecina.scheduler import build_dispatcher
from vecina.services.appointments import Citizen, DatabaseBackend, WaitingList
from vecina.services.dates import DateRequest
from vecina.services.reminders import municipal_clock
from vecina.settings import ROOT, Settings
from vecina.stack import Stack

pytestmark = pytest.mark.integration

OFFICE, SERVICE = "oac-ajuntament", "census"  # census: its procedure has documents to bring


def send(stack: Stack, day: date) -> str:
    env = {**os.environ, "VECINA_DATABASE_URL": database(stack), "VECINA_CONSOLE_RASA_URL": stack.rasa_url,
           "VECINA_RASA_ENABLE_API": "true", "VECINA_RASA_JWT_SECRET": JWT_SECRET}
    done = subprocess.run([sys.executable, "-m", "vecina.cli", "reminders", "send", "--for", day.isoformat()],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def figure(output: str, name: str) -> int:
    return int(re.search(rf"^  {re.escape(name)}: (\d+)", output, re.MULTILINE).group(1))


def reply(meta: FakeMeta, wa_id: str, before: int) -> List[Dict[str, Any]]:
    messages = settled(meta, wa_id)
    assert len(messages) > before, f"no answer to {wa_id}"
    return messages[before:]


def tap(stack: Stack, meta: FakeMeta, wa_id: str, message: Dict[str, Any], index: int) -> List[Dict[str, Any]]:
    """The citizen taps a button of a message they received (a template quick reply or a reply button)."""
    before = len(meta.sent_to(wa_id))
    if message["type"] == "template":
        buttons = [c for c in message["template"]["components"] if c.get("sub_type") == "quick_reply"]
        payload = buttons[index]["parameters"][0]["payload"]
        tapped = meta.message(wa_id, "button", {"payload": payload, "text": "…"}, context=message["id"])
    else:
        button = message["interactive"]["action"]["buttons"][index]["reply"]
        tapped = meta.message(wa_id, "interactive", {"type": "button_reply", "button_reply": button},
                              context=message["id"])
    assert meta.deliver(webhook(stack), WHATSAPP_NUMBER, tapped)[0] == 200
    return reply(meta, wa_id, before)


def status(stack: Stack, appointment_id: int) -> str:
    with session_scope(database(stack)) as session:
        return session.get(Appointment, appointment_id).status


def test_reminders_confirm_cancel_waiting_list_and_a_late_answer(stack: Stack, meta: FakeMeta) -> None:
    url = database(stack)
    kb = KbReader(url)
    clock = municipal_clock(kb)
    agenda = DatabaseBackend(url, kb, clock)
    day = agenda.free_slots(OFFICE, SERVICE, DateRequest(first_available=True), clock())[0].starts_at.date()
    slots = agenda.free_slots(OFFICE, SERVICE, DateRequest(day=day), clock(), limit=8)
    for _ in range(14):  # late in the day (or after other tests' bookings) the first open day may be nearly full
        if len(slots) >= 4:
            break
        day += timedelta(days=1)
        slots = agenda.free_slots(OFFICE, SERVICE, DateRequest(day=day), clock(), limit=8)
    assert len(slots) >= 4, "the test needs a day with four free slots in the next two weeks"

    ana, pau, eva, carla = (new_citizen() for _ in range(4))
    for citizen, words in ((pau, "Bon dia, necessite ajuda amb una cita"), (carla, "hola, buenos días")):
        meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(citizen, "text", {"body": words}))
        settled(meta, citizen)  # they wrote today: their 24-hour window is open
    booked = {}
    for wa_id, lang, slot in ((ana, "es", slots[0]), (pau, "va", slots[1]), (eva, "ca", slots[2])):
        citizen = Citizen(f"whatsapp:+{wa_id}", "whatsapp", lang, f"+{wa_id}")
        booked[wa_id] = agenda.book(slot, citizen, None, f"test-{wa_id}", clock()).id
    unreachable = agenda.book(slots[3], Citizen("whatsapp:+12", "whatsapp", "es"), None, f"bad-{ana}", clock()).id
    WaitingList(url, clock).join(OFFICE, SERVICE, Citizen(f"whatsapp:+{carla}", "whatsapp", "es"),
                                 DateRequest(day=day), clock().date())
    already = {wa_id: len(meta.sent_to(wa_id)) for wa_id in (ana, pau, eva, carla)}

    output = send(stack, day)  # other tests' appointments of that day (booked over REST: no_contact) count too
    assert figure(output, "sent") >= 3 and "invalid_phone 1" in output, output
    with session_scope(url) as session:
        reminders = {r.appointment_id: (r.status, r.failure) for r in session.execute(select(Reminder)).scalars()}
    assert [reminders[booked[w]] for w in (ana, pau, eva)] == [("sent", None)] * 3
    assert reminders[unreachable] == ("failed", "invalid_phone")
    [to_ana] = reply(meta, ana, already[ana])
    pau_messages = reply(meta, pau, already[pau])  # a long reminder: the text, then the buttons (1024 at most)
    to_pau, pau_text = pau_messages[-1], "\n".join(body_text(m) for m in pau_messages)
    [to_eva] = reply(meta, eva, already[eva])

    # outside the window, the approved template with the appointment and Confirm / Cancel
    assert to_ana["type"] == "template" and to_ana["template"]["name"] == "appointment_reminder"
    parameters = [p["text"] for p in to_ana["template"]["components"][0]["parameters"]]
    assert parameters[0].endswith(f"{slots[0].starts_at:%d/%m}") and parameters[1] == f"{slots[0].starts_at:%H:%M}"
    assert to_ana["template"]["language"]["code"] == "es"
    # inside it, the full message in the citizen's language, with the documents to bring
    assert to_pau["type"] == "interactive" and pau_text.startswith("Recordatori: té cita")
    assert "Porte estos documents" in pau_text and "DNI" in pau_text
    assert [b["reply"]["title"] for b in to_pau["interactive"]["action"]["buttons"]] == ["Sí, hi aniré",
                                                                                        "Anul·lar la cita"]
    assert to_eva["type"] == "template" and to_eva["template"]["language"]["code"] == "ca"

    again = send(stack, day)
    assert figure(again, "sent") == 0 and figure(again, "already sent by an earlier run") == figure(output, "due")
    time.sleep(2)
    assert [len(meta.sent_to(w)) for w in (ana, pau, eva)] == [already[ana] + 1, already[pau] + len(pau_messages),
                                                               already[eva] + 1]

    # delivery receipts move the reminder forward
    meta.post(webhook(stack), meta.notification(WHATSAPP_NUMBER, statuses=[
        {"id": to_eva["id"], "status": status_name, "timestamp": str(int(time.time())), "recipient_id": eva}
        for status_name in ("read", "delivered")]))
    with session_scope(url) as session:
        eva_reminder = session.execute(select(Reminder).where(Reminder.appointment_id == booked[eva])).scalar_one()
        assert eva_reminder.status == "read" and eva_reminder.delivered_at and eva_reminder.read_at

    # Confirm, from the template's quick reply
    thanks = tap(stack, meta, ana, to_ana, 0)[-1]  # after the privacy notice: her first words to us
    assert body_text(thanks).startswith("Gracias por confirmar") and f"{slots[0].starts_at:%H:%M}" in body_text(thanks)
    assert status(stack, booked[ana]) == "confirmed"

    # Cancel frees the slot, offers another appointment, and the first on the waiting list hears of it
    cancelled = tap(stack, meta, pau, to_pau, 1)
    text = body_text(cancelled[-1])
    assert text.startswith("Fet: he anul·lat la seua cita") and "https://sede.riuclar.example" in text
    assert [b["reply"]["title"] for b in cancelled[-1]["interactive"]["action"]["buttons"]] == ["Demanar nova cita"]
    assert status(stack, booked[pau]) == "cancelled"
    with session_scope(url) as session:
        entry = session.execute(select(WaitingEntry).where(WaitingEntry.conversation_id == f"whatsapp:+{carla}")
                                ).scalar_one()
        assert (entry.status, entry.offered_slot) == ("offered", slots[1].starts_at)

    settings = Settings(database_url=url, console_rasa_url=stack.rasa_url, rasa_jwt_secret=JWT_SECRET)
    before = len(meta.sent_to(carla))
    assert build_dispatcher(settings, kb).send_offers(clock()).sent == 1
    [offer] = reply(meta, carla, before)
    assert body_text(offer).startswith("Buenas noticias") and f"{slots[1].starts_at:%H:%M}" in body_text(offer)
    assert build_dispatcher(settings, kb).send_offers(clock()).due == 0
    asked = tap(stack, meta, carla, offer, 0)  # "La quiero": the booking goes straight to that day's times
    offered = [r for m in asked if m["type"] == "interactive"
               for r in (m["interactive"]["action"].get("buttons") or [])]
    assert any(f"{slots[1].starts_at:%H:%M}" in b["reply"]["title"] for b in offered), asked

    # after the deadline the buttons no longer work, and the citizen is told so kindly
    with session_scope(url) as session:
        session.execute(update(Reminder).where(Reminder.appointment_id == booked[eva])
                        .values(expires_at=datetime.now() - timedelta(days=2)))
    late = tap(stack, meta, eva, to_eva, 1)[-1]
    assert body_text(late).startswith("Ho sento, el termini per contestar aquest recordatori ja ha acabat")
    assert status(stack, booked[eva]) == "booked"
    with session_scope(url) as session:
        assert session.execute(select(Reminder.status).where(Reminder.appointment_id == booked[eva])).scalar_one() \
            == "expired"
