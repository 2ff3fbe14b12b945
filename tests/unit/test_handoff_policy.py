"""While a person has the conversation the bot is silent; urgent help, cancelling and the staff
console's external intents still reach the dialogue."""

from __future__ import annotations

from typing import List, Optional

import pytest
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from vecina.nlu.handoff_policy import silent_action


def tracker(intent: str, ranking: Optional[List[tuple]] = None, ticket: Optional[int] = 7,
            after: Optional[str] = None) -> DialogueStateTracker:
    ranking = ranking or [(intent, 0.9)]
    events = [SlotSet("handoff_ticket", ticket), ActionExecuted("action_listen"),
              UserUttered("…", {"name": intent, "confidence": ranking[0][1]},
                          parse_data={"intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]})]
    if after:
        events.append(ActionExecuted(after))
    return DialogueStateTracker.from_events("citizen", events)


@pytest.mark.parametrize("state, expected", [
    (tracker("greet"), "action_forward_to_staff"),
    (tracker("nlu_fallback"), "action_forward_to_staff"),
    (tracker("human_handoff"), "action_forward_to_staff"),
    (tracker("deny", [("deny", 0.95), ("cancel_handoff", 0.02)]), "action_forward_to_staff"),  # a plain "no"
    (tracker("deny", [("deny", 0.55), ("cancel_handoff", 0.4)]), "action_cancel_handoff"),     # "ja no fa falta"
    (tracker("cancel_handoff"), "action_cancel_handoff"),
    (tracker("urgent_help"), None),
    (tracker("EXTERNAL_staff_reply"), None),
    (tracker("EXTERNAL_appointment_reminder"), None),
    (tracker("appointment_reminder_answer"), None),  # the reminder's buttons are for the bot
    (tracker("greet", after="action_forward_to_staff"), "action_listen"),
    (tracker("greet", ticket=None), None),
    (tracker("deny", ticket=None, after="action_cancel_handoff"), "action_listen"),  # the slot is already reset
])
def test_what_the_bot_does_while_a_person_has_the_conversation(state, expected) -> None:
    assert silent_action(state) == expected
