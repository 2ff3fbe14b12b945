"""Transcripts and quiet conversations, read from trackers Rasa's own SQLTrackerStore wrote."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SessionStarted, SlotSet, UserUttered

from tests.trackers import BASE, DOCUMENTS, MENU, PHOTO, action, at, bot, external, save, user
from vecina.services.transcripts import QuietConversation, TranscriptItem, TranscriptReader


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "rasa.db"


@pytest.fixture
def store(database: Path) -> SQLTrackerStore:
    return SQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db=str(database))


@pytest.fixture
def reader(store: SQLTrackerStore, database: Path) -> TranscriptReader:
    return TranscriptReader(f"sqlite:///{database}")


def shown(items: Sequence[TranscriptItem]) -> List[tuple]:
    return [(item.speaker, item.kind, item.text, item.options) for item in items]


async def test_turns_come_back_in_order_with_their_times(store: SQLTrackerStore, reader: TranscriptReader) -> None:
    await save(store, "web:1", [
        action("action_session_start", 0), SessionStarted(timestamp=at(0)), action("action_listen", 0),
        user("hola", minute=1), action("utter_greet", 1), bot("¡Hola! ¿En qué puedo ayudarle?", minute=1),
        SlotSet("language", "es", timestamp=at(1)), action("action_listen", 1),
        user("¿qué horario tiene el registro?", "centre_info", minute=2),
        bot("De 9:00 a 14:00.", minute=2.5),
    ])

    items = reader.read("web:1")

    assert shown(items) == [
        ("citizen", "text", "hola", ()),
        ("bot", "text", "¡Hola! ¿En qué puedo ayudarle?", ()),
        ("citizen", "text", "¿qué horario tiene el registro?", ()),
        ("bot", "text", "De 9:00 a 14:00.", ()),
    ]
    assert [item.at for item in items] == [BASE + timedelta(minutes=m) for m in (1, 1, 2, 2.5)]
    assert [item.cursor for item in items] == sorted(item.cursor for item in items)
    assert len({item.cursor for item in items}) == 4
    assert reader.read("web:unknown") == []


async def test_html_comes_back_unchanged_as_plain_text(store: SQLTrackerStore, reader: TranscriptReader) -> None:
    script = "<script>alert(1)</script>"
    await save(store, "web:2", [user(script), bot(f"No le entiendo: {script} &amp; <b>"),
                                bot("Elija", [{"title": "<img src=x onerror=alert(1)>", "payload": "/x"}]),
                                user("/x")])

    assert shown(reader.read("web:2")) == [
        ("citizen", "text", script, ()),
        ("bot", "text", f"No le entiendo: {script} &amp; <b>", ()),
        ("bot", "text", "Elija", ("<img src=x onerror=alert(1)>",)),
        ("citizen", "choice", "<img src=x onerror=alert(1)>", ()),
    ]


@pytest.mark.parametrize("cut_off", [False, True], ids=["whole", "after-cuts-the-bot-message-off"])
async def test_a_pressed_button_shows_its_title(store: SQLTrackerStore, reader: TranscriptReader,
                                                cut_off: bool) -> None:
    await save(store, "whatsapp:+34600000001", [
        user("¿qué papeles necesito?", "procedure_documents"),
        bot("¿De qué trámite?", MENU, "utter_ask_procedure"),
        action("action_listen"),
        user("/procedure_list", "procedure_list"),
        bot("Estos son los trámites:", [{"title": "Licencia de obra", "payload": "/works"}]),
        user(DOCUMENTS, "procedure_documents"),  # an option of an earlier message, as WhatsApp allows
        user("/not_offered", "nlu_fallback"),
    ])
    everything = reader.read("whatsapp:+34600000001")
    after = everything[1].cursor if cut_off else 0

    items = reader.read("whatsapp:+34600000001", after=after)

    assert everything[1].options == ("Padrón", "Más trámites")
    assert [(i.kind, i.text) for i in items if i.speaker == "citizen"][-3:] == [
        ("choice", "Más trámites"), ("choice", "Padrón"), ("choice", "/not_offered")]


async def test_a_shared_location(store: SQLTrackerStore, reader: TranscriptReader) -> None:
    await save(store, "telegram:7", [
        bot("Comparta su ubicación", response="utter_ask_centre_district"),
        user("/find_my_centre", "find_my_centre", metadata={"latitude": 39.4699, "longitude": -0.3763},
             channel="telegram"),
    ])

    location = reader.read("telegram:7")[-1]

    assert (location.speaker, location.kind, location.text) == ("citizen", "location", "")
    assert (location.latitude, location.longitude) == (39.4699, -0.3763)


@pytest.mark.parametrize("text, media, kind, said", [
    ("/share_media", PHOTO, "media", ""),
    ("Farola rota en la calle Mayor", PHOTO, "media", "Farola rota en la calle Mayor"),
    ("/share_media", {"kind": "video", "rejected": "too_large"}, "media_refused", ""),
    ("<i>mire</i>", {"kind": "document", "rejected": "type_not_allowed"}, "media_refused", "<i>mire</i>"),
], ids=["photo", "photo-with-caption", "refused", "refused-with-caption"])
async def test_files_show_their_reference(store: SQLTrackerStore, reader: TranscriptReader, text: str,
                                          media: Dict[str, Any], kind: str, said: str) -> None:
    await save(store, "whatsapp:+34600000002", [user(text, "share_media", metadata={"media": media})])

    [item] = reader.read("whatsapp:+34600000002")

    assert (item.speaker, item.kind, item.text, item.media) == ("citizen", kind, said, media)


@pytest.mark.parametrize("stored_text, shown_text", [
    ("Hola, soy Ana. ¿En qué calle vive?", "Hola, soy Ana. ¿En qué calle vive?"),  # what Rasa 3.6 stores
    ("Ana (Servicios Sociales):\nHola, soy Ana. ¿En qué calle vive?", "Hola, soy Ana. ¿En qué calle vive?"),
], ids=["staff-text", "template-heading"])
async def test_a_staff_reply(store: SQLTrackerStore, reader: TranscriptReader, stored_text: str,
                             shown_text: str) -> None:
    await save(store, "whatsapp:+34600000003", [
        user("quiero hablar con una persona", "human_handoff"),
        bot("Le paso con una persona de Servicios Sociales.", response="utter_handoff_next"),
        UserUttered.create_external("EXTERNAL_staff_reply", [
            {"entity": "staff_text", "value": shown_text}, {"entity": "staff_name", "value": "Ana"}], "whatsapp"),
        action("action_staff_reply"),
        bot(stored_text, response="utter_staff_reply", staff="Ana", team="Servicios Sociales"),
    ])

    items = reader.read("whatsapp:+34600000003")

    assert [item.speaker for item in items] == ["citizen", "bot", "staff"]  # the trigger is nobody's turn
    assert (items[-1].kind, items[-1].text, items[-1].staff_name) == ("text", shown_text, "Ana")


async def test_polling_after_a_cursor_returns_only_new_items(store: SQLTrackerStore,
                                                              reader: TranscriptReader) -> None:
    tracker = await save(store, "web:3", [user("hola"), bot("¡Hola!"), user("una pregunta"), bot("Dígame")])
    first = reader.read("web:3")
    cursor = first[-1].cursor
    assert reader.read("web:3", after=cursor) == []

    for event in [action("action_listen"), user("¿abre el sábado?", "centre_info"), bot("No, el sábado cierra.")]:
        tracker.update(event)
    await store.save(tracker)

    new = reader.read("web:3", after=cursor)
    assert shown(new) == [("citizen", "text", "¿abre el sábado?", ()), ("bot", "text", "No, el sábado cierra.", ())]
    page = reader.read("web:3", limit=2)
    assert page == first[:2] and reader.read("web:3", after=page[-1].cursor, limit=2) == first[2:]


async def test_odd_rows_are_skipped_or_read_as_empty_text(store: SQLTrackerStore, reader: TranscriptReader,
                                                           database: Path) -> None:
    await save(store, "web:4", [user("hola")])
    odd = [
        ("user", at(1), "not json"),
        ("user", at(1), "[]"),
        ("user", None, json.dumps({"event": "user", "text": "sin hora"})),
        ("bot", at(1), json.dumps({"event": "bot", "text": None, "data": {"buttons": "x"}})),
        ("bot", at(1), json.dumps({"event": "bot", "text": 3, "data": [], "metadata": "x"})),
        ("user", at(1), json.dumps({"event": "user", "text": None, "metadata": {"media": "x", "latitude": "1"}})),
        ("bot", at(1), json.dumps({"event": "bot", "text": "ok", "data": {"buttons": [1, {"title": 2}]}})),
    ]
    with sqlite3.connect(database) as connection:
        connection.executemany("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES ('web:4', ?, ?, ?)",
                               odd)

    assert shown(reader.read("web:4")) == [
        ("citizen", "text", "hola", ()), ("citizen", "text", "", ()), ("citizen", "text", "", ()),
        ("citizen", "text", "", ()), ("bot", "text", "ok", ())]


SINCE, QUIET_BEFORE = BASE, BASE + timedelta(minutes=60)

LISTED = {
    "web:fallback": [
        user("asdfgh", "nlu_fallback", 4), action("action_handle_fallback", 5),
        bot("Perdone, no le he entendido.", response="utter_did_not_understand", minute=5)],
    "web:core-fallback": [  # the intent was read, but no rule fitted: the fallback action answered
        user("lo del otro día", "procedure_info", 9), bot("Perdone, no le he entendido.",
                                                        response="utter_did_not_understand", minute=10)],
    "whatsapp:+34600000010": [
        action("action_session_start", 0), SessionStarted(timestamp=at(0)),
        SlotSet("language", "ca", timestamp=at(0)),
        user("hola", minute=19), bot("Hola! Què necessita?", MENU, "utter_help_menu", minute=20)],
    "telegram:11": [
        user("¿cuál es mi centro?", "find_my_centre", 29, channel="telegram"),
        ActiveLoop("centre_search_form", timestamp=at(29)),
        bot("¿En qué barrio vive?", response="utter_ask_centre_district", minute=30)],
    "web:choice": [
        bot("¿De qué trámite?", MENU, minute=38),
        user("/procedure_list", "procedure_list", 39, channel="webchat"),
        bot("¿Cuál de ellos?", [{"title": "Licencia de obra", "payload": "/works"}], minute=40)],
}
NOT_LISTED = {
    "web:answered": [bot("¿De qué trámite?", MENU, minute=11), user("/procedure_list", "procedure_list", 12),
                     bot("Estos son los trámites.", minute=13)],
    "web:goodbye-in-form": [user("mi centro", "find_my_centre", 14),
                            ActiveLoop("centre_search_form", timestamp=at(14)), bot("¿En qué barrio?", minute=14),
                            user("adiós", "goodbye", 15), bot("¡Hasta pronto!", response="utter_goodbye", minute=15)],
    "web:thanks": [user("gracias", "thank", 16), bot("De nada. ¿Algo más?", MENU, "utter_you_are_welcome", minute=16)],
    "web:bot-said-goodbye": [user("ya está", "deny", 17), bot("Adiós", MENU, "utter_goodbye", minute=17)],
    "web:form-ended": [user("mi centro", "find_my_centre", 21), ActiveLoop("centre_search_form", timestamp=at(21)),
                       ActiveLoop(None, timestamp=at(22)), bot("Su centro es el Centro Norte.", minute=22)],
    "web:form-from-old-session": [ActiveLoop("centre_search_form", timestamp=at(23)),
                                  SessionStarted(timestamp=at(24)), user("hola", minute=25), bot("Hola", minute=25)],
    "web:no-citizen": [SessionStarted(timestamp=at(26)), bot("Aviso", MENU, minute=26)],
    "web:only-triggered": [external("help_menu", 27), bot("Menú", MENU, minute=27)],
    "web:still-active": [user("asdfgh", "nlu_fallback", 50), bot("Perdone.", response="utter_did_not_understand",
                                                                 minute=61)],
    "web:older-than-since": [user("asdfgh", "nlu_fallback", -30), bot("Perdone.", response="utter_did_not_understand",
                                                                      minute=-1)],
}


@pytest.fixture
async def conversations(store: SQLTrackerStore) -> None:
    for sender, events in {**LISTED, **NOT_LISTED}.items():
        await save(store, sender, events)


async def test_quiet_conversations(conversations: None, reader: TranscriptReader) -> None:
    quiet = reader.quiet_conversations(SINCE, QUIET_BEFORE)

    assert quiet == [
        QuietConversation("web:choice", "webchat", None, "abandoned", BASE + timedelta(minutes=40), "Más trámites"),
        QuietConversation("telegram:11", "telegram", None, "abandoned", BASE + timedelta(minutes=30),
                          "¿cuál es mi centro?"),
        QuietConversation("whatsapp:+34600000010", "whatsapp", "ca", "abandoned", BASE + timedelta(minutes=20),
                          "hola"),
        QuietConversation("web:core-fallback", "whatsapp", None, "fallback", BASE + timedelta(minutes=10),
                          "lo del otro día"),
        QuietConversation("web:fallback", "whatsapp", None, "fallback", BASE + timedelta(minutes=5), "asdfgh"),
    ]


@pytest.mark.parametrize("limit", [1, 3])
async def test_quiet_conversations_are_limited_newest_first(conversations: None, reader: TranscriptReader,
                                                            limit: int) -> None:
    newest = ["web:choice", "telegram:11", "whatsapp:+34600000010"]

    quiet = reader.quiet_conversations(SINCE, QUIET_BEFORE, limit=limit)

    assert [q.conversation_id for q in quiet] == newest[:limit]


async def test_the_window_bounds_the_last_event_only(conversations: None, reader: TranscriptReader) -> None:
    quiet = reader.quiet_conversations(BASE - timedelta(minutes=1), BASE + timedelta(minutes=10))

    # web:core-fallback ended at the window's end: not quiet yet. web:older-than-since began before it.
    assert [(q.conversation_id, q.reason) for q in quiet] == [("web:fallback", "fallback"),
                                                               ("web:older-than-since", "fallback")]
