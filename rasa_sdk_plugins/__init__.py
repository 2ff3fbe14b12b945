"""rasa-sdk's plugin package, found by this name when the action server starts (rasa_sdk.plugin).

It hardens the action server through rasa-sdk's own extension point: see vecina.action_server.
"""

from __future__ import annotations

from typing import Any


def init_hooks(manager: Any) -> None:
    from vecina.action_server import ActionServerPlugin

    manager.register(ActionServerPlugin())
