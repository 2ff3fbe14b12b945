"""No personal data in any process's log, through every channel and every error path we can force.

A citizen writes a DNI, an NIE, a Spanish phone number, an e-mail and a street address on
WhatsApp, Telegram, SMS, a phone call and REST, on a stack of its own. Meanwhile the conversation
database is locked, the action server drops a call, two action calls come back as stock rasa-sdk
answers a failure (the whole tracker in a 500), an action fails inside the action server, a
reminder is sent and then sent again with Rasa gone, the scheduler ticks on the database and on a
broken one, the web page is asked for paths carrying the data, and the staff console shows the
transcript and fails on a broken database. Then every line of every log — Rasa server, action
server, console, scheduler, reminder command, web page — is read,
and none may contain those strings. The logs are checked to hold the error lines too, so the test
cannot pass by logging nothing.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.fakes.meta import FakeMeta
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.integration.conftest import JWT_SECRET, TWILIO_PUBLIC_URL, TWILIO_SMS_NUMBER, WHATSAPP_NUMBER, served
from tests.integration.test_faults import fault_stack, sqlite_locked
from vecina.settings import ROOT
from vecina.stack import Stack, die_with_parent, free_port

pytestmark = pytest.mark.integration

DNI, NIE, EMAIL = "48392017T", "Y4928371K", "lucia.ferrer.ruiz@correo-ejemplo.es"
STREET = "Carrer del Forn de Sant Nicolau 17"
MOBILE = "655 482 913"
SECRETS = [DNI, NIE, EMAIL, STREET, MOBILE, MOBILE.replace(" ", ""), "Forn de Sant Nicolau"]
WA_ID = "34" + MOBILE.replace(" ", "")
WORDS = [f"Hola, soy Lucía, mi DNI es {DNI}", f"mi NIE era {NIE} y mi correo {EMAIL}",
         f"vivo en {STREET}, llamadme al {MOBILE}", "quiero hablar con una persona"]
PASSWORD = "contraseña de prueba larga"


def wait_turns(stack: Stack, conversation: str, count: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = stack.tracker(conversation)["events"]
        if sum(e["event"] == "user" for e in events) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{conversation}: fewer than {count} turns")


def through_every_channel(stack: Stack, meta: FakeMeta, telegram: FakeTelegram, twilio: FakeTwilio) -> str:
    """The citizen's words on each channel; WhatsApp's conversation id, for the later steps."""
    wa_id = WA_ID
    chat = random.randint(10**8, 10**9)
    phone = "+34" + MOBILE.replace(" ", "")
    for text in WORDS:
        meta.deliver(f"{stack.rasa_url}/webhooks/whatsapp/webhook", WHATSAPP_NUMBER,
                     meta.message(wa_id, "text", {"body": text}))
        telegram.post(f"{stack.rasa_url}/webhooks/telegram/webhook", telegram.update(chat, text=text))
        twilio.post(TWILIO_PUBLIC_URL + "/webhooks/twilio/webhook", stack.rasa_url + "/webhooks/twilio/webhook",
                    twilio.message(phone, TWILIO_SMS_NUMBER, Body=text))
        stack.say("lucia", text)
    voice = {"CallSid": "CA" + "3" * 32, "AccountSid": twilio.account_sid, "From": phone, "To": "+34960000000",
             "CallStatus": "in-progress"}
    for fields in ({}, {"SpeechResult": WORDS[0]}, {"SpeechResult": WORDS[2]}):
        twilio.post(TWILIO_PUBLIC_URL + "/webhooks/twilio_voice/webhook",
                    stack.rasa_url + "/webhooks/twilio_voice/webhook", {**voice, **fields})
    for conversation in (f"whatsapp:+{wa_id}", f"telegram:{chat}", f"twilio:{phone}"):
        wait_turns(stack, conversation, len(WORDS))
    return f"whatsapp:+{wa_id}"


def a_failing_action(stack: Stack, conversation: str) -> None:
    """The action server runs an action on a tracker it cannot use (as after a bad deployment)."""
    tracker = stack.tracker(conversation)
    tracker["slots"] = {**tracker["slots"], "appointment_slot": {"not": "a slot"}, "appointment_service": 17}
    body = {"next_action": "action_book_appointment", "sender_id": conversation, "tracker": tracker,
            "domain": {}, "version": "3.6.2"}
    request = urllib.request.Request(f"{stack.actions_url}/webhook", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=60)
    answer = failed.value.read().decode()
    assert failed.value.code in (500, 503) and DNI not in answer and "tracker" not in answer


def reminders(stack: Stack, conversation: str, rasa_url: str) -> str:
    """`vecina reminders send` for an appointment of this citizen; its output and errors."""
    from vecina.kb.store import KbReader
    from vecina.services.appointments import Citizen, DatabaseBackend
    from vecina.services.dates import DateRequest
    from vecina.services.reminders import municipal_clock

    url = f"sqlite:///{stack.workdir / 'vecina.db'}"
    kb = KbReader(url)
    clock = municipal_clock(kb)
    agenda = DatabaseBackend(url, kb, clock)
    slot = agenda.free_slots("oac-ajuntament", "census", DateRequest(first_available=True), clock())[0]
    agenda.book(slot, Citizen(conversation, "whatsapp", "es", "+34" + MOBILE.replace(" ", "")), None,
                f"log-{random.random()}", clock())
    env = {**os.environ, "VECINA_DATABASE_URL": url, "VECINA_CONSOLE_RASA_URL": rasa_url,
           "VECINA_RASA_ENABLE_API": "true", "VECINA_RASA_JWT_SECRET": JWT_SECRET}
    done = subprocess.run([sys.executable, "-m", "vecina.cli", "reminders", "send", "--for",
                           slot.starts_at.date().isoformat()], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    return done.stdout + done.stderr


def scheduler(stack: Stack, workdir: Path) -> str:
    """The scheduler process, a few ticks on the real database, then a few on a broken one."""
    broken = workdir / "broken.db"
    broken.write_bytes(b"not a database" * 200)
    output = ""
    for database in (workdir / "vecina.db", broken):
        env = {**os.environ, "VECINA_DATABASE_URL": f"sqlite:///{database}", "VECINA_CONSOLE_RASA_URL": stack.rasa_url,
               "VECINA_RASA_ENABLE_API": "true", "VECINA_RASA_JWT_SECRET": JWT_SECRET,
               "VECINA_REMINDERS_AT": "00:00", "VECINA_SCHEDULER_TICK_SECONDS": "1", "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-m", "vecina.scheduler"], cwd=ROOT, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        time.sleep(8)
        process.terminate()
        output += process.communicate(timeout=30)[0]
    return output


def web_page(stack: Stack, log: Path) -> None:
    env = dict(stack.launchers["rasa"].env)
    with served("vecina.web", env, log, "/") as url:
        for path in (f"/?dni={DNI}&email={EMAIL}", f"/{EMAIL}", f"/static/{DNI}.js"):
            try:
                urllib.request.urlopen(url + path, timeout=10).read()
            except urllib.error.HTTPError:
                pass


class Browser:
    """Just enough of a browser for the console: cookies kept whatever their flags, no redirects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookies: Dict[str, str] = {}

    def open(self, path: str, form: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
        import http.client
        from urllib.parse import urlencode, urlsplit

        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request("POST" if form is not None else "GET", path, urlencode(form) if form else None, headers)
        answer = connection.getresponse()
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";")[0].partition("=")
            self.cookies[name] = value
        body = answer.read().decode(errors="replace")
        connection.close()
        return answer.status, body


def console(stack: Stack, conversation: str, workdir: Path, log: Path) -> None:
    """Staff read the citizen's ticket; then the conversation database breaks under the console."""
    import shutil

    from vecina.services.tickets import TicketStore

    copy = workdir / "console-tracker.db"
    shutil.copy(workdir / "tracker.db", copy)
    env = {**os.environ, "VECINA_DATABASE_URL": f"sqlite:///{workdir / 'vecina.db'}",
           "VECINA_TRACKER_URL": f"sqlite:///{copy}", "VECINA_CONSOLE_RASA_URL": stack.rasa_url,
           "VECINA_RASA_JWT_SECRET": JWT_SECRET, "VECINA_CONSOLE_SECURE_COOKIES": "false", "PYTHONPATH": str(ROOT)}
    added = subprocess.run([sys.executable, "-m", "vecina.cli", "users", "add", "marta", "--role", "admin",
                            "--password-stdin"], cwd=ROOT, env=env, input=PASSWORD + "\n", capture_output=True,
                           text=True)
    assert added.returncode == 0, added.stderr
    ticket = TicketStore(env["VECINA_DATABASE_URL"]).active(conversation)
    assert ticket is not None, "asking for a person opened a ticket"
    with served("vecina.console", env, log) as url:
        browser = Browser(url)
        _, page = browser.open("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
        status, _ = browser.open("/login", {"login_token": token, "next": "/inbox", "username": "marta",
                                            "password": PASSWORD})
        assert status in (302, 303)
        status, transcript = browser.open(f"/tickets/{ticket.id}")
        assert status == 200 and DNI in transcript  # staff do see what the citizen wrote
        copy.write_bytes(b"not a database any more" * 100)
        status, failed = browser.open(f"/tickets/{ticket.id}")
        assert status == 500 and DNI not in failed


def scan(logs: Dict[str, str]) -> List[str]:
    return [f"{name}: {secret!r}" for name, text in logs.items() for secret in SECRETS
            if re.search(re.escape(secret), text, re.IGNORECASE)]


def test_no_process_logs_what_citizens_wrote(tmp_path: Path, meta: FakeMeta, telegram: FakeTelegram,
                                            twilio: FakeTwilio) -> None:
    with fault_stack(tmp_path, (meta, telegram, twilio)) as (stack, proxy):
        proxy.drops = 1  # the first action call dies with the server
        with sqlite_locked(tmp_path / "tracker.db"):  # and before it, the conversation database is locked
            meta.deliver(f"{stack.rasa_url}/webhooks/whatsapp/webhook", WHATSAPP_NUMBER,
                         meta.message(WA_ID, "text", {"body": WORDS[2]}))
            time.sleep(7)
        proxy.failures = 2  # two sessions start with an action failing as stock rasa-sdk reports it
        conversation = through_every_channel(stack, meta, telegram, twilio)
        a_failing_action(stack, conversation)
        sent = reminders(stack, conversation, stack.rasa_url)
        gone = reminders(stack, conversation, f"http://127.0.0.1:{free_port()}")
        ticks = scheduler(stack, tmp_path)
        web_page(stack, tmp_path / "web.log")
        console(stack, conversation, tmp_path, tmp_path / "console.log")
        logs = {name: (tmp_path / name).read_text()
                for name in ("rasa.log", "actions.log", "web.log", "console.log")}
    logs.update({"reminders": sent, "reminders without rasa": gone, "scheduler": ticks})
    assert proxy.dropped == 1 and proxy.failed == 2 and "OperationalError" in logs["rasa.log"]
    assert "ClientResponseError" in logs["rasa.log"]
    assert "action action_book_appointment failed" in logs["actions.log"]
    assert "Traceback" not in gone and gone.strip()
    assert "DatabaseError" in logs["console.log"] and "scheduler cannot read its database" in ticks
    assert scan(logs) == []
