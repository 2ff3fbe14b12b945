"""Rasa custom actions: thin adapters from the tracker to vecina services (one module per topic)."""

from actions import appointments, centres, conversation, handoff, procedures, reminders  # noqa: F401  (registers the actions)
