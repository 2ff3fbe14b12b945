"""`python -m vecina.console --host H --port P`: serve the staff console (waitress, threads).

waitress writes no access log and never sees a request body; errors reach it only as the console's
plain 500 page (vecina.console.security), and it is told not to show tracebacks either."""

import argparse
import logging
import sys

from waitress import serve

from vecina.console import create_app
from vecina.settings import get_settings

parser = argparse.ArgumentParser(prog="python -m vecina.console")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8090)
arguments = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
settings = get_settings()
if not settings.rasa_jwt_secret:
    print("vecina console: VECINA_RASA_JWT_SECRET is not set; the console needs Rasa's HTTP API to reply",
          file=sys.stderr)
    sys.exit(2)
serve(create_app(settings), host=arguments.host, port=arguments.port, threads=8, ident="vecina",
      expose_tracebacks=False)
