"""Rasa custom actions: thin adapters from the tracker to vecina services (one module per topic)."""

from actions import centres, conversation, procedures  # noqa: F401  (registers the actions)
