"""The whole handoff in headless Chromium: a citizen on WhatsApp asks for a person, the ticket
appears in the staff console without reloading, the agent answers (a double click sends once),
the citizen's next messages reach the console while the bot is silent, and closing brings the bot
back. Real Rasa and action servers, the console as `make run` starts it, the fake WhatsApp API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest

from tests.fakes.meta import FakeMeta
from tests.integration.conftest import JWT_SECRET, WHATSAPP_NUMBER, served, start_chromium
from tests.integration.test_whatsapp_channel import new_citizen, settled, webhook
from vecina.db import session_scope
from vecina.db.models import Appointment
from vecina.kb.store import KbReader
from vecina.services.reminders import municipal_clock
from vecina.services.tickets import TicketStore
from vecina.settings import ROOT
from vecina.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "contraseña de prueba larga"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def console_url(stack: Stack) -> Iterator[str]:
    env = dict(os.environ, VECINA_DATABASE_URL=f"sqlite:///{stack.workdir / 'vecina.db'}",
               VECINA_TRACKER_URL=f"sqlite:///{stack.workdir / 'tracker.db'}", VECINA_CONSOLE_RASA_URL=stack.rasa_url,
               VECINA_RASA_JWT_SECRET=JWT_SECRET, VECINA_MEDIA_DIR=str(stack.workdir / "media"),
               PYTHONPATH=str(ROOT))
    added = subprocess.run([sys.executable, "-m", "vecina.cli", "users", "add", "ana", "--name", "Ana", "--role",
                            "agent", "--team", "citizen-office", "--password-stdin"], cwd=ROOT, env=env,
                           input=PASSWORD + "\n", capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    with served("vecina.console", env, stack.workdir / "console.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-console"))
    yield driver
    driver.quit()


def eventually(check: Callable[[], Any], seconds: float = 30) -> Any:
    """`check()` once it is true; a page still loading (its elements stale or missing) is not yet."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except (NoSuchElementException, StaleElementReferenceException):
            result = None
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def sign_in(browser: Any, path: str) -> None:
    """Sign in as Ana on the login page the console sent the browser to, and land on `path`."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.NAME, "username").send_keys("ana")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    # the login page's own address ends in "?next=<path>": wait for the path itself
    assert eventually(lambda: urlsplit(browser.current_url).path == path)


def test_a_person_answers_from_the_console_and_the_bot_comes_back(stack: Stack, meta: FakeMeta, console_url: str,
                                                                   browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    tickets = TicketStore(f"sqlite:///{stack.workdir / 'vecina.db'}")
    browser.get(f"{console_url}/inbox")
    assert "/login" in browser.current_url
    sign_in(browser, "/inbox")
    cookie = browser.get_cookie("__Host-vecina-console")
    assert cookie and cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    wa_id = new_citizen()
    conversation = f"whatsapp:+{wa_id}"
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "quiero hablar con una persona"}))
    told = settled(meta, wa_id)
    ticket = tickets.active(conversation)
    assert ticket is not None and ticket.team == "citizen-office"
    row = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, f"tr[data-ticket='{ticket.id}'] a"))
    assert row, "the new ticket did not appear in the open inbox"
    row[0].click()
    assert eventually(lambda: "quiero hablar con una persona" in browser.find_element(By.ID, "transcript").text)

    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": XSS}))
    assert eventually(lambda: XSS in browser.find_element(By.ID, "transcript").text), "not shown, or not literally"
    assert browser.find_elements(By.CSS_SELECTOR, "#transcript img, #transcript script") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    assert len(settled(meta, wa_id)) == len(told)  # the bot said nothing

    browser.find_element(By.CSS_SELECTOR, ".canned-reply").click()  # a canned reply fills the box ...
    box = browser.find_element(By.ID, "reply-text")
    assert box.get_attribute("value").startswith("Hola")
    box.clear()  # ... which the agent can rewrite
    answer = "Hola, soy Ana. ¿En qué calle vive?"
    box.send_keys(answer)
    ActionChains(browser).double_click(browser.find_element(By.ID, "send")).perform()
    assert eventually(lambda: "Respuesta enviada" in browser.find_element(By.ID, "feedback").text)
    replies = settled(meta, wa_id)[len(told):]
    assert [r["text"]["body"] for r in replies] == [f"Ana (Oficina de Atención a la Ciudadanía):\n{answer}"]
    assert eventually(lambda: answer in browser.find_element(By.CSS_SELECTOR, "#transcript .staff:last-child").text)

    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "en la calle mayor 3"}))
    assert eventually(lambda: "en la calle mayor 3" in browser.find_element(By.ID, "transcript").text)
    assert len(settled(meta, wa_id)) == len(told) + 1  # still only Ana's answer: the bot stays silent
    assert [e["text"] for e in tickets.entries(ticket.id) if e["kind"] == "citizen"] == [XSS, "en la calle mayor 3"]

    browser.find_element(By.ID, "close").click()
    assert eventually(lambda: "Conversación cerrada" in browser.find_element(By.TAG_NAME, "main").text)
    resumed = settled(meta, wa_id)[len(told) + 1:]
    assert len(resumed) == 1 and "asistente" in resumed[0]["text"]["body"]
    meta.deliver(webhook(stack), WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": "hola"}))
    assert len(settled(meta, wa_id)) > len(told) + 2  # the bot answers again
    assert (tickets.get(ticket.id).status, tickets.get(ticket.id).outcome) == ("closed", "resolved")
    actions = [row["action"] for row in tickets.audit_trail(f"ticket:{ticket.id}") if row["actor"] == "ana"]
    assert {"view", "claim", "reply", "close"} <= set(actions) and actions.count("reply") == 1


def test_the_desk_marks_who_came_to_their_appointment(stack: Stack, console_url: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    url = f"sqlite:///{stack.workdir / 'vecina.db'}"
    now = municipal_clock(KbReader(url))()
    starts = max(now - timedelta(minutes=30), datetime.combine(now.date(), datetime.min.time()))
    with session_scope(url) as session:
        row = Appointment(office="oac-platja", service="census", starts_at=starts, ends_at=starts + timedelta(minutes=15),
                          desk=1, conversation_id="whatsapp:+34699000111", channel="whatsapp", language="es",
                          phone="+34699000111", status="confirmed", created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        appointment_id = row.id
    browser.get(f"{console_url}/appointments?office=oac-platja&day={now.date().isoformat()}")
    if urlsplit(browser.current_url).path == "/login":
        sign_in(browser, "/appointments")

    def status_shown() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f"#appointment-{appointment_id} .status").text)

    def press(title: str) -> None:
        row_buttons = browser.find_elements(By.CSS_SELECTOR, f"#appointment-{appointment_id} button")
        next(b for b in row_buttons if b.text == title).click()

    assert status_shown() == "Confirmada"
    assert "… 0111" in browser.find_element(By.ID, f"appointment-{appointment_id}").text
    press("Ha venido")
    assert eventually(lambda: status_shown() == "Ha venido")
    assert browser.find_element(By.CSS_SELECTOR, "p.notice").text == "Marcada: ha venido."
    press("No ha venido")  # a correction
    assert eventually(lambda: status_shown() == "No ha venido")
    with session_scope(url) as session:
        assert session.get(Appointment, appointment_id).status == "no_show"
