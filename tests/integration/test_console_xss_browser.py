"""Hostile text in headless Chromium: every payload of the corpus (tests/unit/test_console_security)
is put wherever citizen or staff text reaches the console (transcripts, inbox rows, ticket fields,
internal notes, undelivered replies, staff names, appointment rows, unattended conversations, the
audit log, the sign-in page's return path), each page is loaded in a real browser, and nothing may
run: no `window.__xss`, no alert. Every payload must be shown exactly as written, on the server's
pages and after the console's own scripts add rows (which also shows they run under the CSP).

Needs Debian's chromium and chromium-driver; not Rasa (the console is started on its own, on a
database and a tracker store filled here)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import quote, urlsplit

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from tests.integration.conftest import JWT_SECRET, served, start_chromium
from tests.trackers import BASE, bot, save, user
from tests.unit.test_console_security import ALLOWED_TAGS, PAYLOADS, hostile_events
from vecina.db import session_scope
from vecina.db.models import Appointment
from vecina.kb.store import KbReader, load
from vecina.services.reminders import municipal_clock
from vecina.services.staff import StaffDirectory
from vecina.services.tickets import NewTicket, TicketStore
from vecina.settings import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "contraseña de prueba larga"
CONVERSATION = "whatsapp:+34600500000"


def recent(event: Any, seconds_ago: float) -> Any:
    event.timestamp = time.time() - seconds_ago
    return event


async def fill_tracker(tracker_path: Path) -> None:
    store = SQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db=str(tracker_path))
    started = (datetime.utcnow() - timedelta(hours=1) - BASE).total_seconds() / 60
    await save(store, CONVERSATION, hostile_events(lambda step: started + step / 10))
    for index, payload in enumerate(PAYLOADS):  # quiet for two hours: unattended
        await save(store, f"telegram:50{index}", [
            recent(user(payload, "nlu_fallback"), 7200),
            recent(bot("No le he entendido.", response="utter_did_not_understand"), 7199)])


def fill_database(url: str) -> Dict[str, Any]:
    staff = StaffDirectory(url)
    staff.add("root", PAYLOADS[1], "admin", PASSWORD)  # the name shown in every page's header
    staff.add("mala", PAYLOADS[0], "agent", PASSWORD, ["citizen-office"])  # in the assign list
    tickets = TicketStore(url)
    opened = []
    for index, payload in enumerate(PAYLOADS):
        conversation = CONVERSATION if index == 0 else f"whatsapp:+3460051{index:04d}"
        ticket, _ = tickets.open(NewTicket(conversation, "whatsapp", "es", "citizen-office", payload, 2,
                                           procedure=payload, centre=payload))
        opened.append(ticket.id)
        tickets.add_entry(opened[0], "note", payload, "mala", f"note-{index}")
        tickets.add_entry(opened[0], "staff", payload, "mala", f"staff-{index}", delivery="failed")
        tickets.audit("mala", payload[:40], payload, {"text": payload})
    now = municipal_clock(KbReader(url))()
    starts = max(now - timedelta(minutes=30), datetime.combine(now.date(), datetime.min.time()))
    with session_scope(url) as session:
        for index, payload in enumerate(PAYLOADS):
            session.add(Appointment(office="oac-ajuntament", service=payload[:40], starts_at=starts,
                                    ends_at=starts + timedelta(minutes=15), desk=index + 1,
                                    conversation_id=f"whatsapp:+3460052{index:04d}", channel=payload[:20],
                                    language=payload[:5], phone="+34600520000", status="booked", created_at=now,
                                    updated_at=now))
    return {"tickets": opened, "day": now.date().isoformat()}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("console-xss")
    database = f"sqlite:///{workdir / 'vecina.db'}"
    load(ROOT / "kb", database)
    asyncio.run(fill_tracker(workdir / "tracker.db"))
    seeded = fill_database(database)
    env = dict(os.environ, VECINA_DATABASE_URL=database, VECINA_TRACKER_URL=f"sqlite:///{workdir / 'tracker.db'}",
               VECINA_CONSOLE_RASA_URL="http://127.0.0.1:9", VECINA_RASA_JWT_SECRET=JWT_SECRET,
               VECINA_MEDIA_DIR=str(workdir / "media"), PYTHONPATH=str(ROOT))
    with served("vecina.console", env, workdir / "console.log") as url:
        yield {"url": url, "database": database, "tracker": workdir / "tracker.db", **seeded}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-console-xss"))
    yield driver
    driver.quit()


def as_shown(text: str) -> str:
    """Line ends as a browser keeps them (the HTML parser turns CR and CRLF into LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_nothing_ran(browser: Any, where: str) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = browser.switch_to.alert
        text = alert.text
        alert.dismiss()
        pytest.fail(f"{where}: an alert opened ({text!r})")
    except NoAlertPresentException:
        pass
    assert browser.execute_script("return typeof window.__xss") == "undefined", where


def assert_only_console_markup(browser: Any, where: str) -> None:
    """Every element is one the console's pages use, none has an event handler, one script (ours):
    an injection would show here even where the Content-Security-Policy stopped it from running."""
    foreign = browser.execute_script(
        "return Array.from(document.querySelectorAll('*')).filter((e) => !arguments[0].includes(e.localName)"
        " || Array.from(e.attributes).some((a) => a.name.startsWith('on'))).map((e) => e.outerHTML.slice(0, 120))",
        sorted(ALLOWED_TAGS))
    assert foreign == [], (where, foreign)
    scripts = browser.execute_script("return Array.from(document.scripts).map((s) => s.getAttribute('src'))")
    assert len(scripts) == 1 and scripts[0].startswith("/static/"), (where, scripts)


def texts(browser: Any, selector: str) -> List[str]:
    return [as_shown(text) for text in browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map((e) => e.textContent)", selector)]


def assert_shown(browser: Any, payloads: List[str], where: str) -> None:
    shown = as_shown(browser.execute_script("return document.body.textContent"))
    missing = [payload for payload in payloads if as_shown(payload) not in shown]
    assert not missing, (where, missing)


def visit(browser: Any, url: str) -> None:
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"


def eventually(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.3)
    return result


def sign_in(browser: Any) -> None:
    """Sign in as the admin on the sign-in page on screen; the console then shows the inbox (the
    return path the page was given, when it was hostile)."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.NAME, "username").send_keys("root")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    assert eventually(lambda: urlsplit(browser.current_url).path == "/inbox"), browser.current_url


def test_no_payload_runs_on_any_page_and_each_is_shown_as_written(hostile: Dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base = hostile["url"]
    for payload in PAYLOADS:  # the sign-in page echoes its return path in a hidden field
        visit(browser, f"{base}/login?next={quote(payload)}")
        assert_nothing_ran(browser, f"login next={payload!r}")
    sign_in(browser)
    assert_nothing_ran(browser, "inbox")
    assert_shown(browser, PAYLOADS + [PAYLOADS[1]], "inbox")  # reasons, and the admin's own name

    first, others = hostile["tickets"][0], hostile["tickets"][1:]
    pages = {"unattended": ("/unattended", PAYLOADS),
             "appointments": (f"/appointments?office=oac-ajuntament&day={hostile['day']}",
                              [p[:40] for p in PAYLOADS]),
             "audit": ("/audit", [p[:40] for p in PAYLOADS] + PAYLOADS),
             "ticket": (f"/tickets/{first}", PAYLOADS),
             "done": (f"/tickets/{first}?done={quote(PAYLOADS[0])}", PAYLOADS)}
    pages.update({f"ticket {ticket}": (f"/tickets/{ticket}", [PAYLOADS[index]])
                  for index, ticket in enumerate(others, start=1)})
    for where, (path, expected) in pages.items():
        visit(browser, base + path)
        assert_nothing_ran(browser, where)
        assert_only_console_markup(browser, where)
        assert_shown(browser, expected, where)

    visit(browser, f"{base}/tickets/{first}")  # each place on its own, in order
    literal = [as_shown(p) for p in PAYLOADS]
    for selector, expected in (
            ("#transcript li.citizen.text p.text", literal), ("#transcript li.citizen.choice p.text", literal),
            ("#transcript li.bot ul.options li", literal), ("#transcript li.bot p.text", literal),
            ("#transcript li.staff span.who", [p.strip() for p in literal]),  # names are trimmed
            ("#transcript li.staff p.text", literal),
            ("#transcript li.media span.tag", [f"Archivo ({p})" for p in literal]),
            ("#transcript li.media_refused span.tag", [f"Archivo rechazado ({p})" for p in literal]),
            ("#notes li.note p.text", [p for p in literal for _twice in range(2)]),
            ("select[name=to] option", literal[:2])):  # staff names: "mala", then "root" (admins serve all)
        assert texts(browser, selector) == expected, selector
    facts = texts(browser, "dl.facts dd")
    assert facts.count(literal[0]) == 3  # reason, procedure, centre
    visit(browser, f"{base}/inbox")
    assert texts(browser, "tr[data-ticket] td:nth-child(3)") == literal
    assert texts(browser, "header .me") == [f"{literal[1]} (admin)"]


def test_what_the_scripts_add_is_inert_too(hostile: Dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, first = hostile["url"], hostile["tickets"][0]
    visit(browser, f"{base}/login")
    if urlsplit(browser.current_url).path == "/login":
        sign_in(browser)
    visit(browser, f"{base}/tickets/{first}")
    before = len(browser.find_elements(By.CSS_SELECTOR, "#transcript li.turn"))
    notes_before = len(browser.find_elements(By.CSS_SELECTOR, "#notes li.note"))

    async def more() -> None:
        store = SQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db=str(hostile["tracker"]))
        tracker = await store.retrieve(CONVERSATION)
        for payload in PAYLOADS:
            tracker.update(recent(user(payload), 1))
        await store.save(tracker)

    asyncio.run(more())
    tickets = TicketStore(hostile["database"])
    for index, payload in enumerate(PAYLOADS):
        tickets.add_entry(first, "note", payload, "mala", f"live-{index}")
    assert eventually(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#transcript li.turn"))
                      >= before + len(PAYLOADS)), "the page's script did not add the new messages"
    assert eventually(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#notes li.note"))
                      >= notes_before + len(PAYLOADS)), "the page's script did not add the new notes"
    assert_nothing_ran(browser, "ticket, live")
    assert_only_console_markup(browser, "ticket, live")
    added = browser.execute_script(
        "return Array.from(document.querySelectorAll('#transcript li.turn')).slice(arguments[0])"
        ".map((li) => li.querySelector('p.text').textContent)", before)
    assert [as_shown(text) for text in added] == [as_shown(p) for p in PAYLOADS]
    assert browser.find_elements(By.CSS_SELECTOR, "#transcript img, #transcript script, #transcript svg, "
                                                  "#notes img, #notes script, #notes svg") == []

    visit(browser, f"{base}/inbox")
    time.sleep(4)  # the inbox's script has replaced the rows by now
    assert_nothing_ran(browser, "inbox, live")
    assert_only_console_markup(browser, "inbox, live")
    assert texts(browser, "tr[data-ticket] td:nth-child(3)") == [as_shown(p) for p in PAYLOADS]
    assert_shown(browser, PAYLOADS, "inbox, live")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")) == len(PAYLOADS)
