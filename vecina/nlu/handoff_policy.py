"""Rasa dialogue policy: while a person has the conversation, the bot stays silent.

When the `handoff_ticket` slot holds an open ticket, every citizen message goes to that ticket
(`action_forward_to_staff`) and the bot answers nothing, whatever the other policies would do.
Four things still reach the dialogue: `cancel_handoff` (the citizen no longer needs a person),
`urgent_help` (the emergency numbers are never withheld), the Confirm / Cancel of an appointment
reminder, and the `EXTERNAL_` intents the staff console and the scheduler trigger (a staff reply,
the ticket closed, a reminder). While someone waits for a person, "ya no
hace falta" most likely cancels the wait, so `cancel_handoff` wins there from `cancel_floor`
confidence even when `deny` ranked first; a plain "no" (cancel_handoff near 0) still goes to
the person. The policy outranks RulePolicy (priority 7
against 6) so a rule cannot make the bot speak over a person.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from vecina.services.tickets import TICKET_SLOT

FORWARD_ACTION = "action_forward_to_staff"
CANCEL_INTENT, CANCEL_ACTION = "cancel_handoff", "action_cancel_handoff"
PASS_THROUGH_INTENTS = ("urgent_help", "appointment_reminder_answer")
DEFAULT_CANCEL_FLOOR = 0.3
EXTERNAL_PREFIX = "EXTERNAL_"


def silent_action(tracker: DialogueStateTracker, cancel_floor: float = DEFAULT_CANCEL_FLOOR) -> Optional[str]:
    """The action the bot must take while a person has the conversation, or None when the other
    policies decide."""
    latest = tracker.latest_action_name
    if latest in (FORWARD_ACTION, CANCEL_ACTION):
        return ACTION_LISTEN_NAME  # whatever the intent was, this turn is over
    if not tracker.get_slot(TICKET_SLOT) or latest != ACTION_LISTEN_NAME:
        return None
    if tracker.latest_message is None:
        return None
    intent = (tracker.latest_message.intent or {}).get("name") or ""
    if intent in PASS_THROUGH_INTENTS or intent.startswith(EXTERNAL_PREFIX):
        return None
    ranking = tracker.latest_message.parse_data.get("intent_ranking") or []
    cancel = max((r.get("confidence", 0.0) for r in ranking if r.get("name") == CANCEL_INTENT), default=0.0)
    if intent == CANCEL_INTENT or cancel >= cancel_floor:
        return CANCEL_ACTION
    return FORWARD_ACTION


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class StaffHandoffPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7, "cancel_floor": DEFAULT_CANCEL_FLOOR}

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource  # nothing to learn

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = silent_action(tracker, float(self.config.get("cancel_floor", DEFAULT_CANCEL_FLOOR)))
        if action is not None and action in domain.action_names_or_texts:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)
