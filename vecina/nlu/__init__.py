"""Custom Rasa graph components. Keys they add to parsed messages live here, free of Rasa imports,
so the action server (which has only rasa-sdk) can read them."""

LANGUAGE_DETECTION = "language_detection"
MESSAGE_GUARD = "message_guard"
