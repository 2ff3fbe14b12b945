"""Vecina: citizen-service assistant for Spanish town halls."""

__version__ = "0.1.0"

LANGUAGES = ("es", "ca", "va")
