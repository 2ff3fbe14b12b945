"""Channels never wait for a database on Rasa's event loop.

Every conversation of a Rasa process shares one event loop: a store call made directly inside an
`async def` stalls all of them while the database answers (or hangs). Store calls there go
through `asyncio.to_thread`; this test reads the channel modules and finds any that do not.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List

import pytest

from vecina.settings import ROOT

STORES = {"outbound", "contacts", "held", "inbound", "reminders", "media_store"}
MODULES = sorted((ROOT / "vecina" / "channels").glob("*.py"))


def direct_store_calls(path: Path) -> List[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: List[str] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr in STORES and \
                    isinstance(owner.value, ast.Name) and owner.value.id == "self" and node.func.attr != "release":
                found.append(f"{path.name}:{node.lineno} self.{owner.attr}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_store_calls_in_coroutines_run_in_a_thread(path: Path) -> None:
    assert direct_store_calls(path) == []
