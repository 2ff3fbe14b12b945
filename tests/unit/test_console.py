"""The staff console's web layer: sessions, CSRF, throttling, roles, replies sent once, the audit
log, and citizen text shown as text. Real SQLite databases, Rasa's own tracker store, and a fake
of Rasa's HTTP API that checks the JWT the way Rasa does."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from flask import Flask
from flask.testing import FlaskClient
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from tests.fakes.rasa import FakeRasaApi
from tests.trackers import BASE, PHOTO, bot, save, user
from vecina import db
from vecina.console import create_app
from vecina.console.desk import Desk
from vecina.db.models import Appointment
from vecina.kb.store import KbReader, load
from vecina.rasa_api import RasaApi
from vecina.services.attendance import Attendance
from vecina.services.staff import StaffDirectory
from vecina.services.tickets import NORMAL, URGENT, NewTicket, TicketStore
from vecina.services.transcripts import TranscriptReader
from vecina.settings import ROOT, Settings

SECRET = "console-tests-" + "x" * 40
PASSWORD = "una contraseña larga"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 10, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def rasa() -> Iterator[FakeRasaApi]:
    fake = FakeRasaApi(SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def kb_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'vecina.db'}"
    load(ROOT / "kb", url)
    return url


class Console:
    def __init__(self, app: Flask, desk: Desk, clock: Clock, tracker: SQLTrackerStore, media_dir: Path) -> None:
        self.app, self.desk, self.clock, self.tracker, self.media_dir = app, desk, clock, tracker, media_dir

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def sign_in(self, username: str, password: str = PASSWORD) -> Tuple[FlaskClient, str]:
        client = self.client()
        answer = self.login(client, username, password)
        assert answer.status_code == 302, answer.data
        page = client.get("/inbox").get_data(as_text=True)
        return client, re.search(r'data-csrf="([^"]+)"', page).group(1)

    @staticmethod
    def login(client: FlaskClient, username: str, password: str):  # type: ignore[no-untyped-def]
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
        return client.post("/login", data={"login_token": token, "username": username, "password": password})

    def ticket(self, conversation: str, team: str = "citizen-office", channel: str = "whatsapp",
               priority: int = NORMAL) -> int:
        opened, _ = self.desk.tickets.open(NewTicket(conversation, channel, "es", team, "human_handoff", priority))
        return opened.id


@pytest.fixture
def console(tmp_path: Path, rasa: FakeRasaApi, kb_database: str) -> Console:
    return make_console(tmp_path, rasa, kb_database)


def make_console(tmp_path: Path, rasa: FakeRasaApi, kb_database: str) -> Console:
    """A console on fresh databases under `tmp_path`, with ana and pau (agents of one team each),
    sara (supervisor) and root (admin)."""
    database = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(database)
    clock = Clock()
    staff = StaffDirectory(database, clock=clock)
    for name, role, teams in (("ana", "agent", ["citizen-office"]), ("pau", "agent", ["social-services"]),
                              ("sara", "supervisor", []), ("root", "admin", [])):
        staff.add(name, name.capitalize(), role, PASSWORD, teams)
    tracker_path = tmp_path / "tracker.db"
    tracker = SQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db=str(tracker_path))
    media_dir = tmp_path / "media"
    settings = Settings(database_url=database, tracker_url=f"sqlite:///{tracker_path}", media_dir=media_dir,
                        rasa_jwt_secret=SECRET)
    desk = Desk(database, TicketStore(database, clock=clock), staff, RasaApi(rasa.url, SECRET, "console", timeout=5),
                TranscriptReader(settings.tracker_url), KbReader(kb_database), media_dir,
                attendance=Attendance(database, clock))
    rasa.triggers.clear()
    rasa.failures.clear()
    rasa.delay = 0
    return Console(create_app(settings, desk), desk, clock, tracker, media_dir)


def routes(app: Flask) -> List[Tuple[str, str, str]]:
    """(endpoint, method, a URL for it) for every route of the application."""
    found = []
    for rule in app.url_map.iter_rules():
        values = {arg: 1 if arg.endswith("_id") else "x.jpg" for arg in rule.arguments}
        url = app.url_map.bind("localhost").build(rule.endpoint, values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def test_every_route_needs_a_session(console: Console) -> None:
    client = console.client()
    checked = []
    for endpoint, method, url in routes(console.app):
        if endpoint in ("login", "static", "health"):
            continue
        answer = client.open(url, method=method)
        if method == "GET" and not (url.endswith(".json") or url.endswith("/updates")):
            assert answer.status_code == 302 and answer.location.startswith("/login?next="), (method, url)
        else:
            assert answer.status_code == 401, (method, url, answer.status_code)
        checked.append(endpoint)
    assert {"inbox", "ticket", "reply", "close", "assign", "claim", "note", "media", "unattended", "audit",
            "logout", "follow_up", "ticket_updates", "inbox_rows", "appointments_day", "attendance",
            "close_day"} <= set(checked)


def test_every_unsafe_request_needs_the_csrf_token(console: Console) -> None:
    client, csrf = console.sign_in("root")
    ticket = console.ticket("whatsapp:+34600000001")
    unsafe = [(method, url.replace("/1/", f"/{ticket}/")) for endpoint, method, url in routes(console.app)
              if method not in ("GET",) and endpoint != "login"]
    assert len(unsafe) >= 7
    for method, url in unsafe:
        for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
            answer = client.open(url, method=method, headers=headers, data={"text": "hola", "outcome": "resolved"})
            assert answer.status_code == 403, (method, url, headers)
    assert console.desk.tickets.get(ticket).status == "open" and console.desk.tickets.entries(ticket) == []
    assert client.get("/inbox").status_code == 200  # still signed in: logout without the token was refused too
    login_without_token = console.client().post("/login", data={"username": "root", "password": PASSWORD})
    assert login_without_token.status_code == 403


def test_the_sixth_wrong_password_in_a_minute_is_throttled(console: Console) -> None:
    client = console.client()
    for _ in range(5):
        assert console.login(client, "ana", "wrong password!!").status_code == 401
    throttled = console.login(client, "ana", PASSWORD)  # even the right one
    assert throttled.status_code == 429 and "Espere un minuto" in throttled.get_data(as_text=True)
    console.clock.now += timedelta(seconds=61)
    assert console.login(client, "ana", PASSWORD).status_code == 302


def test_session_cookie_flags_and_logout_ends_the_session(console: Console) -> None:
    client = console.client()
    answer = console.login(client, "ana", PASSWORD)
    cookie = next(h for h in answer.headers.getlist("Set-Cookie") if h.startswith("__Host-vecina-console="))
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"))
    token = cookie.split(";")[0].split("=", 1)[1]
    page = client.get("/inbox").get_data(as_text=True)
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302

    stolen = console.client()
    stolen.set_cookie("__Host-vecina-console", token, domain="localhost")
    assert stolen.get("/inbox").status_code == 302  # the old cookie no longer opens anything
    assert console.desk.staff.session(token) is None


def test_an_idle_session_expires_even_while_a_page_refreshes_itself(console: Console) -> None:
    client, _ = console.sign_in("ana")
    for _ in range(3):
        console.clock.now += timedelta(minutes=10)
        assert client.get("/inbox.json").status_code == 200
    console.clock.now += timedelta(minutes=1)
    assert client.get("/inbox.json").status_code == 401 and client.get("/inbox").status_code == 302


def test_the_inbox_is_ordered_and_filtered_by_team(console: Console) -> None:
    calm = console.ticket("whatsapp:+34600000002")
    console.clock.now += timedelta(minutes=5)
    urgent = console.ticket("telegram:77", team="social-services", channel="telegram", priority=URGENT)
    social = console.ticket("whatsapp:+34600000003", team="social-services")

    supervisor, _ = console.sign_in("sara")
    rows = supervisor.get("/inbox.json").get_json()["tickets"]
    assert [row["id"] for row in rows] == [urgent, calm, social]
    assert [r["id"] for r in supervisor.get("/inbox.json?channel=telegram").get_json()["tickets"]] == [urgent]

    agent, _ = console.sign_in("ana")  # citizen office only
    assert [row["id"] for row in agent.get("/inbox.json").get_json()["tickets"]] == [calm]
    assert agent.get(f"/tickets/{social}").status_code == 403
    assert agent.get("/audit").status_code == 403


async def test_the_transcript_shows_citizen_text_as_text(console: Console) -> None:
    conversation = "whatsapp:+34600000004"
    console.media_dir.mkdir()
    (console.media_dir / PHOTO["file"]).write_bytes(b"\xff\xd8\xff photo")
    await save(console.tracker, conversation, [
        user(XSS, minute=1), bot("¿En qué calle vive?", [{"title": "<b>Centro</b>", "payload": "/centre"}], minute=2),
        user("/share_media", minute=3, metadata={"media": PHOTO}),
        user("/find_my_centre", minute=4, metadata={"latitude": 39.47, "longitude": -0.376})])
    ticket = console.ticket(conversation)
    client, _ = console.sign_in("ana")

    page = client.get(f"/tickets/{ticket}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;b&gt;Centro&lt;/b&gt;" in page
    assert "openstreetmap.org/?mlat=39.470000&amp;mlon=-0.376000" in page
    photo = client.get(f"/tickets/{ticket}/media/{PHOTO['file']}")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg" and photo.data == b"\xff\xd8\xff photo"
    assert "sandbox" in photo.headers["Content-Security-Policy"]
    for other in ("other.jpg", "..%2Fvecina.db", "%2E%2E"):
        assert client.get(f"/tickets/{ticket}/media/{other}").status_code == 404
    assert "script-src 'self'" in client.get(f"/tickets/{ticket}").headers["Content-Security-Policy"]


def test_a_reply_is_sent_once_however_often_it_is_submitted(console: Console, rasa: FakeRasaApi) -> None:
    ticket = console.ticket("whatsapp:+34600000005")
    client, csrf = console.sign_in("ana")
    rasa.delay = 0.5  # both submissions arrive while the first is still being delivered
    form = {"csrf_token": csrf, "text": "Hola, soy Ana.", "client_key": "k-1"}
    answers: Dict[int, dict] = {}

    def submit(index: int) -> None:
        other = console.app.test_client()
        other.set_cookie("__Host-vecina-console", client.get_cookie("__Host-vecina-console").value,
                         domain="localhost")
        answers[index] = other.post(f"/tickets/{ticket}/reply", data=form,
                                    headers={"Accept": "application/json"}).get_json()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer["done"] for answer in answers.values()) == ["repeated", "sent"]
    assert client.post(f"/tickets/{ticket}/reply", data=form).status_code == 302  # once more, later
    assert rasa.triggers == [{"sender": "whatsapp:+34600000005", "intent": "EXTERNAL_staff_reply",
                              "entities": {"staff_text": "Hola, soy Ana.", "staff_name": "Ana"},
                              "output_channel": "whatsapp"}]
    assert console.desk.tickets.get(ticket).claimed_by == "ana"  # replying took the ticket
    assert [e["delivery"] for e in console.desk.tickets.entries(ticket)] == ["sent"]


def test_a_reply_rasa_refuses_is_reported_and_can_be_sent_again(console: Console, rasa: FakeRasaApi) -> None:
    ticket = console.ticket("telegram:88", channel="telegram")
    client, csrf = console.sign_in("ana")
    rasa.failures = [500]
    failed = client.post(f"/tickets/{ticket}/reply", data={"csrf_token": csrf, "text": "Hola", "client_key": "a"},
                         headers={"Accept": "application/json"}).get_json()
    assert failed["delivery"] == "failed" and "no se ha podido entregar" in failed["message"]
    again = client.post(f"/tickets/{ticket}/reply", data={"csrf_token": csrf, "text": "Hola", "client_key": "b"},
                        headers={"Accept": "application/json"}).get_json()
    assert again["delivery"] == "sent" and len(rasa.triggers) == 1
    notes = client.get(f"/tickets/{ticket}/updates").get_json()["notes"]
    assert [(n["kind"], n["delivery"]) for n in notes] == [("staff", "failed")]  # visible, marked undelivered


def test_replies_are_refused_where_they_cannot_arrive_or_someone_else_has_the_ticket(console: Console,
                                                                                    rasa: FakeRasaApi) -> None:
    voice = console.ticket("twilio_voice:+34600000006", channel="twilio_voice")
    taken = console.ticket("whatsapp:+34600000007")
    console.desk.tickets.claim(taken, "sara")
    client, csrf = console.sign_in("ana")
    for ticket, expected in ((voice, "llame a la persona"), (taken, "Sara está atendiendo")):
        answer = client.post(f"/tickets/{ticket}/reply", data={"csrf_token": csrf, "text": "Hola", "client_key": "z"},
                             headers={"Accept": "application/json"})
        assert answer.status_code == 409
        assert expected.lower() in answer.get_json()["message"].lower()
    assert rasa.triggers == []


def test_assign_note_close_and_the_audit_trail(console: Console, rasa: FakeRasaApi) -> None:
    ticket = console.ticket("whatsapp:+34600000008")
    supervisor, csrf = console.sign_in("sara")
    supervisor.get(f"/tickets/{ticket}")
    assert supervisor.post(f"/tickets/{ticket}/assign", data={"csrf_token": csrf, "to": "pau"}).status_code == 409
    assert supervisor.post(f"/tickets/{ticket}/assign", data={"csrf_token": csrf, "to": "ana"}).status_code == 302
    agent, agent_csrf = console.sign_in("ana")
    agent.post(f"/tickets/{ticket}/note", data={"csrf_token": agent_csrf, "text": "Llamar el lunes", "client_key": "n"})
    agent.post(f"/tickets/{ticket}/reply", data={"csrf_token": agent_csrf, "text": "Le llamamos el lunes",
                                                 "client_key": "r"})
    closed = agent.post(f"/tickets/{ticket}/close", data={"csrf_token": agent_csrf, "outcome": "callback"},
                        headers={"Accept": "application/json"}).get_json()
    assert closed["done"] == "closed_told"
    assert [t["intent"] for t in rasa.triggers] == ["EXTERNAL_staff_reply", "EXTERNAL_handoff_closed"]
    assert console.desk.tickets.get(ticket).outcome == "callback"

    trail = [(row["actor"], row["action"]) for row in console.desk.tickets.audit_trail(f"ticket:{ticket}")]
    assert trail == [("sara", "view"), ("sara", "assign"), ("ana", "note"), ("ana", "reply"), ("ana", "close")]
    admin, _ = console.sign_in("root")
    page = admin.get(f"/audit?target=ticket:{ticket}").get_data(as_text=True)
    assert page.count("<tr><td>") == 5


def test_no_request_changes_or_removes_audit_rows(console: Console) -> None:
    ticket = console.ticket("whatsapp:+34600000009")
    admin, csrf = console.sign_in("root")
    admin.get(f"/tickets/{ticket}")
    before = console.desk.tickets.audit_trail()
    for endpoint, method, url in routes(console.app):
        if endpoint in ("logout", "static"):
            continue
        for data in ({"csrf_token": csrf}, {"csrf_token": csrf, "target": "ticket:1", "id": "1", "action": "delete",
                                            "outcome": "resolved", "text": "x", "to": "ana"}):
            admin.open(url.replace("/1/", f"/{ticket}/"), method=method, data=data)
    after = console.desk.tickets.audit_trail()
    assert after[:len(before)] == before and len(after) > len(before)
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET actor = 'nobody'"):
        with pytest.raises(DatabaseError, match="append-only"):
            with db.session_scope(console.desk.url) as session:
                session.execute(text(statement))


async def test_unattended_conversations_can_be_taken_or_dismissed(console: Console, rasa: FakeRasaApi) -> None:
    two_hours_ago = (console.clock.now - BASE).total_seconds() / 60 - 120
    await save(console.tracker, "whatsapp:+34600000010", [
        user("blablabla", "nlu_fallback", minute=two_hours_ago),
        bot("No le he entendido.", response="utter_did_not_understand", minute=two_hours_ago)])
    await save(console.tracker, "telegram:99", [
        user("quiero la ayuda", "procedure_info", minute=two_hours_ago),
        bot("¿Cuál?", [{"title": "Alquiler", "payload": "/x"}], minute=two_hours_ago)])
    await save(console.tracker, "telegram:100", [  # still talking: not quiet yet
        user("quiero otra ayuda", "procedure_info", minute=two_hours_ago + 110),
        bot("¿Cuál?", [{"title": "Alquiler", "payload": "/x"}], minute=two_hours_ago + 110)])
    client, csrf = console.sign_in("ana")
    page = client.get("/unattended").get_data(as_text=True)
    assert "blablabla" in page and "quiero la ayuda" in page and "quiero otra ayuda" not in page

    client.post("/unattended/follow-up", data={"csrf_token": csrf, "conversation_id": "telegram:99",
                                               "action": "dismissed"})
    taken = client.post("/unattended/follow-up", data={"csrf_token": csrf, "conversation_id": "whatsapp:+34600000010",
                                                       "action": "ticket"})
    assert taken.status_code == 302 and "/tickets/" in taken.location
    ticket = console.desk.tickets.active("whatsapp:+34600000010")
    assert ticket.reason == "follow_up" and ticket.claimed_by == "ana" and ticket.channel == "whatsapp"
    page = client.get("/unattended").get_data(as_text=True)
    assert "blablabla" not in page and "quiero la ayuda" not in page
    actions = [row["action"] for row in console.desk.tickets.audit_trail()]
    assert "followup_dismissed" in actions and "followup_ticket" in actions


@pytest.mark.parametrize("target, expected", [
    ("/tickets/7", "/tickets/7"), ("//evil.example", "/inbox"), ("/\\evil.example", "/inbox"),
    ("https://evil.example/", "/inbox"),
])
def test_signing_in_returns_to_the_page_asked_for_never_elsewhere(console: Console, target: str,
                                                                  expected: str) -> None:
    client = console.client()
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"login_token": token, "username": "ana", "password": PASSWORD,
                                         "next": target})
    assert answer.status_code == 302 and answer.location == expected


def appointment(console: Console, starts: datetime, status: str = "booked", office: str = "oac-ajuntament") -> int:
    with db.session_scope(console.desk.url) as session:
        row = Appointment(office=office, service="census", starts_at=starts, ends_at=starts + timedelta(minutes=15),
                          desk=1, conversation_id="whatsapp:+34600123456", channel="whatsapp", language="va",
                          phone="+34600123456", status=status, created_at=starts - timedelta(days=2),
                          updated_at=starts - timedelta(days=2))
        session.add(row)
        session.flush()
        return row.id


def appointment_status(console: Console, appointment_id: int) -> str:
    with db.session_scope(console.desk.url) as session:
        return session.get(Appointment, appointment_id).status


def test_the_office_marks_who_came_and_closes_the_day(console: Console) -> None:
    now = console.clock.now  # 10:00
    came = appointment(console, now - timedelta(hours=1))
    absent = appointment(console, now - timedelta(minutes=30))
    cancelled = appointment(console, now - timedelta(minutes=45), status="cancelled")
    later = appointment(console, now + timedelta(hours=2))
    tomorrow = appointment(console, now + timedelta(days=1))
    agent, csrf = console.sign_in("ana")  # the citizen office keeps oac-ajuntament
    page = agent.get("/appointments").get_data(as_text=True)  # today, at the first office
    assert page.count('<tr id="appointment-') == 4 and f"appointment-{tomorrow}" not in page
    assert "… 3456" in page and "600123456" not in page
    assert agent.get(f"/appointments?office=oac-ajuntament&day={now.date() + timedelta(days=1)}").get_data(
        as_text=True).count('<tr id="appointment-') == 1

    marked = agent.post(f"/appointments/{came}/attendance", data={"csrf_token": csrf, "outcome": "attended"})
    assert marked.status_code == 302 and "done=attended" in marked.location
    assert appointment_status(console, came) == "attended"
    for appointment_id, outcome, code, text in (
            (later, "no_show", 409, "Todavía no es la hora"), (tomorrow, "attended", 409, "Todavía no es la hora"),
            (cancelled, "attended", 409, "está anulada"), (came, "maybe", 409, "Indique si la persona ha venido"),
            (999_999, "attended", 404, "No existe")):
        answer = agent.post(f"/appointments/{appointment_id}/attendance", data={"csrf_token": csrf, "outcome": outcome})
        assert answer.status_code == code and text in answer.get_data(as_text=True), (appointment_id, outcome)
    assert agent.post(f"/appointments/{absent}/attendance", data={"outcome": "no_show"}).status_code == 403  # no CSRF

    closed = agent.post("/appointments/close-day", data={"csrf_token": csrf, "office": "oac-ajuntament",
                                                          "day": now.date().isoformat()})
    assert "marked=1" in closed.location
    assert "las citas ya pasadas que quedaban sin marcar: 1" in agent.get(closed.location).get_data(as_text=True)
    assert [appointment_status(console, a) for a in (came, absent, cancelled, later, tomorrow)] == [
        "attended", "no_show", "cancelled", "booked", "booked"]
    trail = [(row["action"], row["target"], row["detail"]) for row in console.desk.tickets.audit_trail()
             if row["actor"] == "ana" and row["action"] in ("attendance", "no_shows")]
    assert trail == [("attendance", f"appointment:{came}", {"outcome": "attended"}),
                     ("no_shows", "office:oac-ajuntament", {"day": now.date().isoformat(), "marked": 1})]

    for bad in ("/appointments?day=24/11/2026", "/appointments?office=nowhere"):
        answer = agent.get(bad)
        assert answer.status_code in (404, 409) and "<table" not in answer.get_data(as_text=True), bad


def test_with_the_town_hall_system_attendance_is_kept_there(console: Console, tmp_path: Path) -> None:
    settings = Settings(database_url=console.desk.url, tracker_url="sqlite:///" + str(tmp_path / "tracker.db"),
                        rasa_jwt_secret=SECRET, appointments_url="http://127.0.0.1:9/", appointments_token="t")
    console.app = create_app(settings, console.desk)
    agent, _ = console.sign_in("ana")
    page = agent.get("/appointments").get_data(as_text=True)
    assert "sistema de cita previa del ayuntamiento" in page and "<table" not in page
