"""Labelled messages for evaluation: our own training data, held-out splits, folds, TSV test sets."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from vecina import LANGUAGES


@dataclass
class Example:
    language: str
    intent: str
    text: str
    message: object = field(repr=False)  # rasa Message with its entities, for training files
    entities: List[dict] = field(default_factory=list)


class InvalidTestSet(ValueError):
    """A TSV test set that cannot be read; the message names the file and line."""


def _example(language: str, message) -> Example:  # type: ignore[no-untyped-def]
    entities = [{"entity": e["entity"], "start": e["start"], "end": e["end"]} for e in message.get("entities") or []]
    return Example(language, message.get("intent"), message.get("text"), message, entities)


def load_examples(data_dir: Path) -> List[Example]:
    """Every intent example of `data/nlu/<topic>/<language>.yml`."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in sorted((data_dir / "nlu").glob("*/*.yml")):
        if path.stem not in LANGUAGES:
            continue
        examples += [_example(path.stem, message) for message in load_data(str(path)).intent_examples]
    return examples


def read_tsv(path: Path, intents: Optional[set] = None) -> List[Example]:
    """`language<TAB>intent<TAB>text` per line; text may annotate entities as in Rasa YAML."""
    from rasa.shared.nlu.training_data.entities_parser import parse_training_example

    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise InvalidTestSet(f"{path}:{number}: expected language<TAB>intent<TAB>text, found {len(parts)} field(s)")
        language, intent, text = (part.strip() for part in parts)
        if language not in LANGUAGES:
            raise InvalidTestSet(f"{path}:{number}: language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        if intents is not None and intent not in intents:
            raise InvalidTestSet(f"{path}:{number}: unknown intent {intent!r}")
        if not text:
            raise InvalidTestSet(f"{path}:{number}: empty text")
        examples.append(_example(language, parse_training_example(text, intent)))
    if not examples:
        raise InvalidTestSet(f"{path}: no examples")
    return examples


def _groups(examples: List[Example], seed: int) -> List[List[Example]]:
    groups: Dict[Tuple[str, str], List[Example]] = defaultdict(list)
    for example in examples:
        groups[(example.language, example.intent)].append(example)
    generator = random.Random(seed)
    shuffled = []
    for key in sorted(groups):
        items = sorted(groups[key], key=lambda e: e.text)
        generator.shuffle(items)
        shuffled.append(items)
    return shuffled


def without_leaks(train: List[Example], test: List[Example]) -> List[Example]:
    """The test messages whose text is not also a training message (case and outer spaces ignored)."""
    seen = {e.text.strip().lower() for e in train}
    return [e for e in test if e.text.strip().lower() not in seen]  # the same text in two languages stays in train


def split(examples: List[Example], test_share: float, seed: int) -> Tuple[List[Example], List[Example]]:
    """Hold out `test_share` of every (language, intent), at least one example each."""
    train, test = [], []
    for items in _groups(examples, seed):
        count = max(1, round(len(items) * test_share))
        test += items[:count]
        train += items[count:]
    return train, without_leaks(train, test)


def folds(examples: List[Example], count: int, seed: int) -> List[Tuple[List[Example], List[Example]]]:
    """Stratified k-fold: every example is tested exactly once (unless its text is in training)."""
    buckets: List[List[Example]] = [[] for _ in range(count)]
    for items in _groups(examples, seed):
        for position, example in enumerate(items):
            buckets[position % count].append(example)
    result = []
    for index in range(count):
        train = [e for j, bucket in enumerate(buckets) if j != index for e in bucket]
        result.append((train, without_leaks(train, buckets[index])))
    return result


def subsample(examples: List[Example], per_group: int, seed: int) -> List[Example]:
    """The first `per_group` of each (language, intent) after a seeded shuffle: for smoke runs."""
    return [e for items in _groups(examples, seed) for e in items[:per_group]]


KEYBOARD_ROWS = ("qwertyuiop", "asdfghjklñ", "zxcvbnm")


def keyboard_mash(count: int, seed: int) -> List[Example]:
    """Random runs of neighbouring keys, one to three "words": what a pocket or a toddler types.
    The right answer to each is `nlu_fallback`."""
    generator = random.Random(seed)
    texts: set = set()
    while len(texts) < count:
        words = []
        for _ in range(generator.randint(1, 3)):
            row = generator.choice(KEYBOARD_ROWS)
            start = generator.randrange(len(row) - 4)
            words.append("".join(generator.choice(row[start:start + 5]) for _ in range(generator.randint(3, 7))))
        texts.add(" ".join(words))
    return [Example("es", "nlu_fallback", text, None) for text in sorted(texts)]
