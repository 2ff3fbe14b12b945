"""The front door: `vecina run` (what `make run` starts) brings everything up; Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import json
from pathlib import Path

import pytest

from vecina.stack import Stack, die_with_parent, wait_until_up, free_port
from vecina.cli import model_path
from vecina.settings import ROOT, get_settings

pytestmark = pytest.mark.integration
REST_TOKEN = "run-supervisor-test-rest-token-not-a-real-one"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_run_starts_every_service_and_ctrl_c_stops_them(tmp_path: Path) -> None:
    if not model_path(get_settings()).exists():
        pytest.fail("no trained model for the current data: run 'make train' (make test does)")
    ports = {"rasa": free_port(), "actions": free_port(), "web": free_port(), "console": free_port()}
    env = dict(os.environ, VECINA_DATABASE_URL=f"sqlite:///{tmp_path / 'vecina.db'}",
               VECINA_TRACKER_URL=f"sqlite:///{tmp_path / 'tracker.db'}", VECINA_RASA_PORT=str(ports["rasa"]),
               VECINA_ACTIONS_PORT=str(ports["actions"]), VECINA_WEB_PORT=str(ports["web"]),
               VECINA_CONSOLE_PORT=str(ports["console"]), VECINA_REMINDERS_AT="18:00", PYTHONPATH=str(ROOT),
               VECINA_REST_TOKEN=REST_TOKEN)
    for derived in ("VECINA_ACTION_ENDPOINT_URL", "VECINA_RASA_ENABLE_API", "VECINA_RASA_JWT_SECRET",
                    "VECINA_WEBCHAT_SECRET"):
        env.pop(derived, None)  # the action endpoint from VECINA_ACTIONS_PORT; the secrets made for the run
    log = tmp_path / "run.log"
    process = subprocess.Popen([sys.executable, "-m", "vecina.cli", "run"], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        wait_until_up(f"http://127.0.0.1:{ports['web']}/", process, log, 120)
        wait_until_up(f"http://127.0.0.1:{ports['actions']}/health", process, log, 120)
        wait_until_up(f"http://127.0.0.1:{ports['console']}/health", process, log, 120)
        wait_until_up(f"http://127.0.0.1:{ports['rasa']}/", process, log, 300)
        login = urllib.request.urlopen(f"http://127.0.0.1:{ports['console']}/inbox", timeout=10)
        assert login.url.endswith("/login?next=/inbox") and b"password" in login.read()
        with pytest.raises(urllib.error.HTTPError) as refused:  # the API is on, for the console, with a JWT only
            urllib.request.urlopen(f"http://127.0.0.1:{ports['rasa']}/status", timeout=10)
        assert refused.value.code == 401
        session = urllib.request.Request(f"http://127.0.0.1:{ports['web']}/session", method="POST")
        assert json.loads(urllib.request.urlopen(session, timeout=10).read())["session_id"]  # a secret for the run
        stack = Stack(f"http://127.0.0.1:{ports['rasa']}", f"http://127.0.0.1:{ports['actions']}", tmp_path,
                      rest_token=REST_TOKEN)
        replies = stack.say("supervisor-test", "que documentos necesito para empadronarme?")
        assert any("DNI" in (reply.get("text") or "") for reply in replies), replies  # kb text via the actions
        printed = log.read_text()
        assert f"http://127.0.0.1:{ports['web']}/" in printed and "kb loaded" in printed
        assert f"http://127.0.0.1:{ports['console']}/" in printed
        assert "scheduler started: reminders from 18:00" in printed
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Vecina stopped." in log.read_text()
    assert not any(_listening(port) for port in ports.values())
