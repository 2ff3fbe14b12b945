"""`python -m vecina.web --host H --port P`: serve the web chat page."""

import argparse

from vecina.settings import get_settings
from vecina.web import serve

parser = argparse.ArgumentParser(prog="python -m vecina.web")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8080)
arguments = parser.parse_args()
serve(get_settings(), arguments.host, arguments.port)
