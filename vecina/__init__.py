"""Vecina: citizen-service assistant for Spanish town halls.

Importing it makes every log record of the process safe (vecina.logs): no process that runs our
code logs personal data, whichever library writes the record.
"""

from vecina import logs

__version__ = "0.1.0"

LANGUAGES = ("es", "ca", "va")

logs.install()
