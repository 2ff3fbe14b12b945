"""The web chat page (vecina.web.app) and its signed session ids (vecina.web.session). No Rasa here."""

from vecina.web.app import config_script, create_app, serve

__all__ = ["config_script", "create_app", "serve"]
