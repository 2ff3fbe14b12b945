"""`python -m vecina.web --host H --port P`: serve the web chat page (waitress)."""

import argparse
import logging
import sys

from vecina.settings import get_settings
from vecina.web import serve

parser = argparse.ArgumentParser(prog="python -m vecina.web")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8080)
arguments = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
settings = get_settings()
if not settings.webchat_secret:
    print("vecina web: VECINA_WEBCHAT_SECRET is not set (32+ characters, the same as the Rasa server's); "
          "the web chat signs its session ids with it", file=sys.stderr)
    sys.exit(2)
serve(settings, arguments.host, arguments.port)
