"""Handing the conversation to a person: open a ticket, keep the citizen informed, forward what
they write while a person has it, and let them cancel."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import buttons, entity, intent, knowledge_base, language, message_text, texts
from vecina.services.handoff import availability, local_now, team_for
from vecina.services.tickets import HIGH, NORMAL, TICKET_SLOT, URGENT, NewTicket, TicketStore
from vecina.settings import get_settings

PRIORITIES = {"urgent_help": URGENT, "nlu_fallback": HIGH, "misunderstood": HIGH}
REASONS = {"affirm": "misunderstood"}  # a "yes" to the offer of a person after two misunderstandings
SUMMARY_TURNS = 6


def tickets() -> TicketStore:
    return TicketStore(get_settings().database_url)


def summary(tracker: Tracker) -> List[Dict[str, str]]:
    """The last turns, for the person who takes the ticket."""
    said = [{"from": "citizen" if event["event"] == "user" else "bot", "text": str(event.get("text") or "")}
            for event in tracker.events if event.get("event") in ("user", "bot") and event.get("text")]
    return said[-SUMMARY_TURNS:]


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb, lang = knowledge_base(), language(tracker)
        reason = REASONS.get(intent(tracker) or "", intent(tracker) or "human_handoff")
        procedure = tracker.get_slot("procedure")
        team = team_for(kb, reason, procedure)
        channel = tracker.get_latest_input_channel() or "rest"
        ticket, _created = tickets().open(NewTicket(
            tracker.sender_id, channel, lang, team.id, reason, PRIORITIES.get(reason, NORMAL), procedure,
            tracker.get_slot("centre_district"), summary(tracker)))
        state = availability(kb, team, local_now(kb))
        cancel = buttons([(texts().text("utter_text_cancel_handoff", lang), "/cancel_handoff")])
        if not state.open_now and state.next_opening is not None:
            opening = state.next_opening
            day = f"{texts().weekday_names(lang)[opening.weekday()]} {opening:%d/%m}"
            dispatcher.utter_message(response="utter_handoff_after_hours", team=team.name[lang], day=day,
                                     time=f"{opening:%H:%M}", buttons=cancel)
        else:
            ahead = (tickets().position(ticket.id) or 1) - 1
            response = {0: "utter_handoff_next", 1: "utter_handoff_queue_one"}.get(ahead, "utter_handoff_queue")
            dispatcher.utter_message(response=response, team=team.name[lang], ahead=ahead, buttons=cancel)
        return [SlotSet(TICKET_SLOT, ticket.id)]


class ActionForwardToStaff(Action):
    """While a person has the conversation: the citizen's message goes to the ticket, the bot is silent."""

    def name(self) -> Text:
        return "action_forward_to_staff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        store = tickets()
        ticket = store.active(tracker.sender_id)
        if ticket is None:  # closed while the citizen was writing, and the news did not reach them
            closed = store.get(int(tracker.get_slot(TICKET_SLOT) or 0))
            team = knowledge_base().teams.get(closed.team) if closed else None
            dispatcher.utter_message(response="utter_handoff_resumed",
                                     team=team.name[language(tracker)] if team else "")
            return [SlotSet(TICKET_SLOT, None)]
        store.add_entry(ticket.id, "citizen", message_text(tracker)[:4000])
        return []


class ActionCancelHandoff(Action):
    def name(self) -> Text:
        return "action_cancel_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        cancelled = tickets().cancel(tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_cancelled" if cancelled else "utter_handoff_nothing_to_cancel")
        return [SlotSet(TICKET_SLOT, None)]


class ActionStaffReply(Action):
    """A staff member's reply from the console, delivered through the citizen's own channel."""

    def name(self) -> Text:
        return "action_staff_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text = entity(tracker, "staff_text")
        ticket = tickets().active(tracker.sender_id)
        if not text or ticket is None:
            return []
        team = knowledge_base().teams.get(ticket.team)
        lang = language(tracker)
        # not `text=`: Rasa would send that instead of the filled-in response, without the heading
        dispatcher.utter_message(response="utter_staff_reply", reply=text, staff=entity(tracker, "staff_name") or "",
                                 team=team.name[lang] if team else "")
        return [SlotSet(TICKET_SLOT, ticket.id)]  # a follow-up ticket: the citizen's answer goes to the person


class ActionHandoffClosed(Action):
    """Staff closed the ticket: the bot answers again, and says so."""

    def name(self) -> Text:
        return "action_handoff_closed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        ticket = tickets().get(int(tracker.get_slot(TICKET_SLOT) or 0))
        team = knowledge_base().teams.get(ticket.team) if ticket else None
        lang = language(tracker)
        dispatcher.utter_message(response="utter_handoff_resumed", team=team.name[lang] if team else "")
        return [SlotSet(TICKET_SLOT, None)]
