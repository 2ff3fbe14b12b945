"""`rasa data validate` with two blind spots covered.

Rasa cannot see inside custom actions, so it warns that every response an action sends "is
not used in any story or rule". We accept exactly those warnings, for response names written
literally in actions/ (or vecina/content.py), and fail on every other warning. In exchange we
check what Rasa cannot: every response an action names exists in the domain. Two kinds of intent
have no training examples on purpose, and that warning is accepted for them only: the ones the
messaging channels send themselves (domain/channels.yml), and `EXTERNAL_*` intents, which only
trigger_intent raises (the staff console, reminders).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set

from vecina.content import ResponseTexts

RESPONSE_LITERAL = re.compile(r"[\"'](utter_[a-z0-9_]+)[\"']")
UNUSED = re.compile(r"The utterance '(utter_[a-z0-9_]+)' is not used in any story or rule")
WARNING = re.compile(r"(UserWarning|FutureWarning|RuntimeWarning|\bWARNING\b|\bERROR\b)")
IGNORED_WARNINGS = re.compile(r"DeprecationWarning|MovedIn20Warning|pkg_resources|declare_namespace")
SOURCES = ("actions", "vecina/content.py", "vecina/channels")
NOT_RESPONSES = {"utter_action"}  # the key under which Rasa tells a channel which response it sends
CHANNEL_INTENTS_FILE = "domain/channels.yml"
EXTERNAL_PREFIX = "EXTERNAL_"
NO_EXAMPLES = re.compile(r"The intent '([A-Za-z0-9_]+)' is listed in the domain file, but is not found in the NLU")


def dispatched_responses(root: Path) -> Set[str]:
    names: Set[str] = set()
    for source in SOURCES:
        path = root / source
        for file in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            names.update(RESPONSE_LITERAL.findall(file.read_text(encoding="utf-8")))
    return names - NOT_RESPONSES


def channel_intents(root: Path) -> Set[str]:
    from ruamel.yaml import YAML

    domain = YAML(typ="safe").load((root / CHANNEL_INTENTS_FILE).read_text(encoding="utf-8")) or {}
    return {str(intent) for intent in domain.get("intents") or []}


def missing_responses(root: Path) -> List[str]:
    domain = ResponseTexts(root / "domain").responses
    return sorted(name for name in dispatched_responses(root) if name not in domain)


def check_rasa_output(output: str, dispatched: Set[str], without_examples: Set[str] = frozenset()) -> List[str]:
    problems = []
    for line in output.splitlines():
        if not WARNING.search(line) or IGNORED_WARNINGS.search(line):
            continue
        unused = UNUSED.search(line)
        if unused and unused.group(1) in dispatched:
            continue
        no_examples = NO_EXAMPLES.search(line)
        if no_examples and (no_examples.group(1) in without_examples
                            or no_examples.group(1).startswith(EXTERNAL_PREFIX)):
            continue
        problems.append(line.strip())
    return problems
