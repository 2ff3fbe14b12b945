"""Team scoping on every console page: an agent sees and changes only the tickets of their teams
and the appointments of the offices their teams keep (kb/appointments.yml, `team`); an agent with
no team sees no team's data; unattended conversations belong to the default team; supervisors and
admins see everything. Real SQLite databases and the real kb."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import List

import pytest

from tests.trackers import BASE, PHOTO, bot, save, user
from tests.unit.test_console import (PASSWORD, Console, appointment, appointment_status, console,  # noqa: F401
                                     kb_database, rasa, routes)
from vecina.kb.build import validate_dir
from vecina.kb.model import KnowledgeBase
from vecina.settings import ROOT

CITIZEN_OFFICE, SOCIAL_SERVICES = "citizen-office", "social-services"


@pytest.fixture
def scoped(console: Console) -> Console:
    console.desk.staff.add("nadie", "Nadie", "agent", PASSWORD, [])  # an agent nobody gave a team
    return console


def rows(page: str) -> List[int]:
    return [int(found) for found in re.findall(r'<tr id="appointment-(\d+)"', page)]


def office_options(page: str) -> List[str]:
    if 'name="office"' not in page:
        return []
    return re.findall(r'<option value="([^"]+)"', page.split('name="office"', 1)[1].split("</select>", 1)[0])


def test_every_office_names_the_team_that_keeps_it(kb: KnowledgeBase) -> None:
    assert kb.appointment_offices
    for office in kb.appointment_offices.values():
        assert office.team in kb.teams, office.id
        expected = SOCIAL_SERVICES if kb.centres[office.centre].kind == "social_services" else CITIZEN_OFFICE
        assert office.team == expected, office.id


def test_an_office_without_a_team_or_with_an_unknown_one_is_refused(tmp_path: Path) -> None:
    source = (ROOT / "kb" / "appointments.yml").read_text(encoding="utf-8")
    copy = tmp_path / "kb"
    for path in (ROOT / "kb").rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(ROOT / "kb")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    for broken, problem in ((source.replace("    team: citizen-office\n", "", 1), "team"),
                            (source.replace("team: citizen-office", "team: nobody", 1), "unknown team 'nobody'")):
        (copy / "appointments.yml").write_text(broken, encoding="utf-8")
        _kb, problems, _files = validate_dir(copy)
        assert any(problem in str(p) for p in problems), problems


async def test_an_agent_sees_and_changes_only_the_tickets_of_their_teams(scoped: Console) -> None:
    scoped.media_dir.mkdir()
    (scoped.media_dir / PHOTO["file"]).write_bytes(b"\xff\xd8\xff photo")
    await save(scoped.tracker, "whatsapp:+34600000101", [user("/share_media", minute=1, metadata={"media": PHOTO})])
    ours = scoped.ticket("whatsapp:+34600000100")
    theirs = scoped.ticket("whatsapp:+34600000101", team=SOCIAL_SERVICES)
    ana, csrf = scoped.sign_in("ana")
    assert [t["id"] for t in ana.get("/inbox.json").get_json()["tickets"]] == [ours]
    assert [t["id"] for t in ana.get(f"/inbox.json?team={SOCIAL_SERVICES}").get_json()["tickets"]] == []
    inbox = ana.get("/inbox").get_data(as_text=True)
    assert f'data-ticket="{theirs}"' not in inbox and "Servicios Sociales" not in inbox
    for url in (f"/tickets/{theirs}", f"/tickets/{theirs}/updates", f"/tickets/{theirs}/media/{PHOTO['file']}"):
        assert ana.get(url).status_code == 403, url
    for action in ("claim", "reply", "note", "close", "assign"):
        answer = ana.post(f"/tickets/{theirs}/{action}", data={"csrf_token": csrf, "text": "hola", "client_key": action,
                                                              "outcome": "resolved", "to": "ana"})
        assert answer.status_code == 403, action
    current = scoped.desk.tickets.get(theirs)
    assert (current.status, scoped.desk.tickets.entries(theirs)) == ("open", [])
    assert ana.get(f"/tickets/{ours}").status_code == 200


def test_an_agent_without_a_team_sees_no_team_s_data(scoped: Console) -> None:
    tickets = [scoped.ticket("whatsapp:+34600000102"), scoped.ticket("telegram:102", team=SOCIAL_SERVICES,
                                                                     channel="telegram")]
    booked = appointment(scoped, scoped.clock.now - timedelta(minutes=30))
    nobody, csrf = scoped.sign_in("nadie")
    assert nobody.get("/inbox.json").get_json()["tickets"] == []
    assert not re.search(r'data-ticket="\d+"', nobody.get("/inbox").get_data(as_text=True))
    for ticket in tickets:
        assert nobody.get(f"/tickets/{ticket}").status_code == 403
    page = nobody.get("/appointments")
    assert page.status_code == 200 and rows(page.get_data(as_text=True)) == [] and \
        office_options(page.get_data(as_text=True)) == []
    assert nobody.get("/appointments?office=oac-ajuntament").status_code == 403
    assert nobody.post(f"/appointments/{booked}/attendance",
                       data={"csrf_token": csrf, "outcome": "attended"}).status_code == 403
    assert appointment_status(scoped, booked) == "booked"
    assert nobody.get("/unattended").status_code == 403


def test_the_appointments_page_shows_and_marks_only_the_offices_of_the_agent_s_teams(scoped: Console) -> None:
    now = scoped.clock.now
    citizen_office = appointment(scoped, now - timedelta(minutes=30), office="oac-ajuntament")
    social = appointment(scoped, now - timedelta(minutes=30), office="css-benimar")
    ana, csrf = scoped.sign_in("ana")
    page = ana.get("/appointments").get_data(as_text=True)  # her first office by default
    assert office_options(page) == ["oac-ajuntament", "oac-platja"] and rows(page) == [citizen_office]
    assert ana.get("/appointments?office=css-benimar").status_code == 403
    for url, data in ((f"/appointments/{social}/attendance", {"outcome": "attended"}),
                      ("/appointments/close-day", {"office": "css-benimar", "day": now.date().isoformat()})):
        answer = ana.post(url, data={"csrf_token": csrf, **data})
        assert answer.status_code == 403, url
    assert appointment_status(scoped, social) == "booked"
    assert not [row for row in scoped.desk.tickets.audit_trail() if row["actor"] == "ana"
                and row["action"] in ("attendance", "no_shows")]

    pau, pau_csrf = scoped.sign_in("pau")
    page = pau.get("/appointments").get_data(as_text=True)
    assert "oac-ajuntament" not in office_options(page) and "css-benimar" in office_options(page)
    assert rows(pau.get("/appointments?office=css-benimar").get_data(as_text=True)) == [social]
    assert pau.post(f"/appointments/{social}/attendance",
                    data={"csrf_token": pau_csrf, "outcome": "attended"}).status_code == 302
    assert appointment_status(scoped, social) == "attended"
    assert pau.post(f"/appointments/{citizen_office}/attendance",
                    data={"csrf_token": pau_csrf, "outcome": "attended"}).status_code == 403
    assert appointment_status(scoped, citizen_office) == "booked"


async def test_unattended_conversations_belong_to_the_default_team(scoped: Console) -> None:
    two_hours_ago = (scoped.clock.now - BASE).total_seconds() / 60 - 120
    await save(scoped.tracker, "whatsapp:+34600000103", [
        user("no sé qué hacer", "nlu_fallback", minute=two_hours_ago),
        bot("No le he entendido.", response="utter_did_not_understand", minute=two_hours_ago)])
    pau, csrf = scoped.sign_in("pau")  # social services: the follow-up ticket would not be his to see
    assert pau.get("/unattended").status_code == 403
    taken = pau.post("/unattended/follow-up", data={"csrf_token": csrf, "conversation_id": "whatsapp:+34600000103",
                                                    "action": "ticket"})
    assert taken.status_code == 403 and scoped.desk.tickets.active("whatsapp:+34600000103") is None
    assert "Sin atender" not in pau.get("/inbox").get_data(as_text=True)
    ana, _ = scoped.sign_in("ana")
    assert "no sé qué hacer" in ana.get("/unattended").get_data(as_text=True)


def test_supervisors_and_admins_see_every_team_and_office(scoped: Console) -> None:
    tickets = [scoped.ticket("whatsapp:+34600000104"), scoped.ticket("telegram:104", team=SOCIAL_SERVICES,
                                                                     channel="telegram")]
    social = appointment(scoped, scoped.clock.now - timedelta(minutes=30), office="css-benimar")
    for username in ("sara", "root"):
        client, _ = scoped.sign_in(username)
        assert sorted(t["id"] for t in client.get("/inbox.json").get_json()["tickets"]) == sorted(tickets)
        assert rows(client.get("/appointments?office=css-benimar").get_data(as_text=True)) == [social]
        assert len(office_options(client.get("/appointments").get_data(as_text=True))) == len(
            scoped.desk.kb.current().appointment_offices)
        assert client.get("/unattended").status_code == 200


def test_every_route_about_a_ticket_or_an_appointment_checks_its_team(scoped: Console) -> None:
    """Whatever routes are added later: one of another team's tickets or appointments is refused."""
    theirs = scoped.ticket("whatsapp:+34600000105", team=SOCIAL_SERVICES)
    social = appointment(scoped, scoped.clock.now - timedelta(minutes=30), office="css-benimar")
    ana, csrf = scoped.sign_in("ana")
    checked = set()
    for endpoint, method, url in routes(scoped.app):
        rule = next(r.rule for r in scoped.app.url_map.iter_rules() if r.endpoint == endpoint)
        if "<int:ticket_id>" in rule:
            url = url.replace("/tickets/1", f"/tickets/{theirs}")
        elif "<int:appointment_id>" in rule:
            url = url.replace("/appointments/1", f"/appointments/{social}")
        else:
            continue
        answer = ana.open(url, method=method, data={"csrf_token": csrf, "text": "hola", "client_key": endpoint,
                                                    "outcome": "attended", "to": "ana"})
        assert answer.status_code == 403, (method, url, answer.status_code)
        checked.add(endpoint)
    assert {"ticket", "ticket_updates", "media", "claim", "assign", "reply", "note", "close", "attendance"} <= checked
    assert scoped.desk.tickets.get(theirs).status == "open" and appointment_status(scoped, social) == "booked"
