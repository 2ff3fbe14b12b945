"""Start the real action server and Rasa server on free loopback ports, and talk to them.

Used by the integration tests and by `vecina bench`; the processes end with their parent.
The stack makes a REST token and a web chat secret for its run. Tests name a REST conversation by
its id (`rest:<sender>`, what `new_sender` returns) or by the bare sender; `say` sends the bare
sender, with the token, from a client address of its own per conversation (X-Forwarded-For, one
trusted proxy), so every test conversation counts as a different citizen for the rate limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from vecina.rasa_api import RasaApi
from vecina.settings import ROOT, Settings

REST_PREFIX = "rest:"


def die_with_parent() -> None:
    """Servers started here end with their parent, even when it is killed."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def conversation_address(conversation_id: str) -> str:
    """A client address of its own for a test conversation (198.18.0.0/15, reserved for tests)."""
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return f"198.{18 + digest[0] % 2}.{digest[1]}.{digest[2]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    rasa_url: str
    actions_url: str
    workdir: Path
    jwt_secret: Optional[str] = None
    rest_token: Optional[str] = None
    webchat_secret: Optional[str] = None
    processes: List[subprocess.Popen] = field(default_factory=list)
    launchers: Dict[str, "Launcher"] = field(default_factory=dict)

    @property
    def api(self) -> RasaApi:
        if not self.jwt_secret:
            raise RuntimeError("this stack was started without the HTTP API")
        return RasaApi(self.rasa_url, self.jwt_secret, username="tests")

    def say(self, sender: str, text: str, metadata: Optional[dict] = None,
            address: Optional[str] = None) -> List[Dict[str, Any]]:
        """One REST message from `sender` (a bare sender or `rest:<sender>`); the replies."""
        bare = sender[len(REST_PREFIX):] if sender.startswith(REST_PREFIX) else sender
        body: Dict[str, Any] = {"sender": bare, "message": text}
        if metadata:
            body["metadata"] = metadata
        headers = {"Content-Type": "application/json",
                   "X-Forwarded-For": address or conversation_address(self.conversation_id(sender))}
        request = urllib.request.Request(f"{self.rasa_url}/webhooks/rest/webhook", json.dumps(body).encode(), headers)
        if self.rest_token:
            request.add_header("Authorization", f"Bearer {self.rest_token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read().decode() or "null")

    @staticmethod
    def conversation_id(sender: str) -> str:
        """A bare REST sender's conversation id; ids already in a namespace stay as they are."""
        return sender if ":" in sender else REST_PREFIX + sender

    def parse(self, text: str) -> Dict[str, Any]:
        return self.api.parse(text)

    def tracker(self, sender: str) -> Dict[str, Any]:
        return self.api.tracker(self.conversation_id(sender))

    def trigger(self, sender: str, intent: str, output_channel: str,
                entities: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return self.api.trigger(self.conversation_id(sender), intent, output_channel, entities)

    def turn(self, sender: str, text: str, metadata: Optional[dict] = None) -> tuple:
        """Send one message; return (REST replies, response names of this turn, slots after it)."""
        replies = self.say(sender, text, metadata)
        tracker = self.tracker(sender)
        events = tracker["events"]
        last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
        names = [(e.get("metadata") or {}).get("utter_action") for e in events[last_user:] if e["event"] == "bot"]
        return replies, names, tracker["slots"]

    @staticmethod
    def new_sender() -> str:
        """A new REST conversation id (`rest:test-…`)."""
        return f"{REST_PREFIX}test-{uuid.uuid4().hex[:12]}"

    def stop(self) -> None:
        stop_processes(self.processes)

    def stop_server(self, name: str) -> None:
        """Stop "actions" or "rasa" (as a crash or a deployment would), keeping the other running."""
        launcher = self.launchers[name]
        stop_processes([launcher.process])
        self.processes.remove(launcher.process)

    def start_server(self, name: str, seconds: float = 300) -> None:
        """Start a stopped server again, on the same port, with the same files."""
        launcher = self.launchers[name]
        self.processes.append(launcher.start())
        wait_until_up(launcher.ready_url, launcher.process, launcher.log, seconds)


@dataclass
class Launcher:
    command: List[str]
    env: Dict[str, str]
    log: Path
    ready_url: str
    process: Optional[subprocess.Popen] = None

    def start(self) -> subprocess.Popen:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log.open("a"),
                                        stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        return self.process


def stop_processes(processes: Iterable[subprocess.Popen], seconds: float = 15) -> None:
    """SIGTERM every process, wait up to `seconds` in all, then kill what is left."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(1)
    raise RuntimeError(f"{url}: not ready after {seconds:.0f}s:\n{log.read_text()[-3000:]}")


def start_stack(workdir: Path, model: Path, extra_env: Optional[Dict[str, str]] = None,
                jwt_secret: Optional[str] = None) -> Stack:
    """Load kb into a fresh SQLite file in `workdir` and start both servers; with `jwt_secret`
    Rasa's HTTP API (trackers) is enabled, authenticated with that HS256 secret."""
    from vecina.kb.store import load

    rasa_port, actions_port = free_port(), free_port()
    database_url = f"sqlite:///{workdir / 'vecina.db'}"
    load(ROOT / "kb", database_url)
    env = dict(os.environ)
    env.update({"VECINA_DATABASE_URL": database_url, "VECINA_TRACKER_URL": f"sqlite:///{workdir / 'tracker.db'}",
                "VECINA_ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
                "VECINA_RASA_PORT": str(rasa_port), "VECINA_BIND_HOST": "127.0.0.1"})
    if jwt_secret:
        env.update({"VECINA_RASA_ENABLE_API": "true", "VECINA_RASA_JWT_SECRET": jwt_secret})
    env.update({"VECINA_REST_TOKEN": secrets.token_urlsafe(32), "VECINA_WEBCHAT_SECRET": secrets.token_urlsafe(48),
                "VECINA_RASA_TRUSTED_PROXIES": "1"})
    env.update(extra_env or {})
    settings = _settings_from(env)
    env.update(settings.rasa_environment())
    env["PYTHONPATH"] = str(ROOT)
    stack = Stack(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{actions_port}", workdir, jwt_secret,
                  env["VECINA_REST_TOKEN"], env["VECINA_WEBCHAT_SECRET"])
    stack.launchers["actions"] = Launcher(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
        env, workdir / "actions.log", f"{stack.actions_url}/health")
    stack.launchers["rasa"] = Launcher([sys.executable, "-m", "vecina.rasa_server", "--model", str(model)],
                                       env, workdir / "rasa.log", f"{stack.rasa_url}/")
    for launcher in stack.launchers.values():
        stack.processes.append(launcher.start())
    try:
        for name, seconds in (("actions", 120), ("rasa", 300)):
            launcher = stack.launchers[name]
            wait_until_up(launcher.ready_url, launcher.process, launcher.log, seconds)
    except Exception:
        stack.stop()
        raise
    return stack


def _settings_from(env: Dict[str, str]) -> Settings:
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
