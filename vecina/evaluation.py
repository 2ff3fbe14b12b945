"""NLU quality per language on a held-out split of our own training data (`vecina eval nlu`).

The split is stratified by (language, intent) with a fixed seed, so reruns measure the same
thing; the model is trained on the rest with the project's own config. A message that ends in
`nlu_fallback` counts as an error: that is what the citizen experiences.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from vecina import LANGUAGES
from vecina.services.language import family

FALLBACK = "nlu_fallback"


@dataclass
class Example:
    language: str
    intent: str
    text: str
    message: object  # rasa Message, with entities, for writing the training split


def load_examples(data_dir: Path) -> List[Example]:
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in sorted((data_dir / "nlu").glob("*/*.yml")):
        if path.stem not in LANGUAGES:
            continue
        for message in load_data(str(path)).intent_examples:
            examples.append(Example(path.stem, message.get("intent"), message.get("text"), message))
    return examples


def split(examples: List[Example], test_share: float, seed: int) -> Tuple[List[Example], List[Example]]:
    groups: Dict[Tuple[str, str], List[Example]] = defaultdict(list)
    for example in examples:
        groups[(example.language, example.intent)].append(example)
    generator = random.Random(seed)
    train, test = [], []
    for key in sorted(groups):
        items = sorted(groups[key], key=lambda e: e.text)
        generator.shuffle(items)
        count = max(1, round(len(items) * test_share))
        test += items[:count]
        train += items[count:]
    seen = {e.text for e in train}
    return train, [e for e in test if e.text not in seen]  # the same text in two languages stays in train


def _train(root: Path, train: List[Example], workdir: Path) -> Path:
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    lookups = load_data(str(root / "data" / "nlu" / "lookups" / "kb.yml"))
    data = TrainingData(training_examples=[e.message for e in train]).merge(lookups)
    nlu_file = workdir / "train.yml"
    nlu_file.write_text(data.nlu_as_yaml(), encoding="utf-8")
    os.environ["RASA_CACHE_DIRECTORY"] = str(workdir / "cache")  # a real training: nothing reused
    model = train_nlu(str(root / "config.yml"), str(nlu_file), str(workdir), fixed_model_name="heldout",
                      domain=str(root / "domain"))
    return Path(model)


def _f1(pairs: List[Tuple[str, str]]) -> Tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    truth = [t for t, _ in pairs]
    predicted = [p for _, p in pairs]
    labels = sorted(set(truth))
    return accuracy_score(truth, predicted), f1_score(truth, predicted, labels=labels, average="macro",
                                                     zero_division=0)


def evaluate(root: Path, test_share: float = 0.2, seed: int = 2026) -> Dict[str, object]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines (they would print citizen texts)
    examples = load_examples(root / "data")
    train, test = split(examples, test_share, seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        model = _train(root, train, Path(workdir))
        training_seconds = time.monotonic() - started
        agent = Agent.load(str(model))
        results, predictions = [], []
        for example in test:
            parsed = asyncio.run(agent.parse_message(example.text))
            detected = (parsed.get("language_detection") or {}).get("language")
            results.append((example, parsed["intent"]["name"], detected))
            predictions.append({"language": example.language, "intent": example.intent, "text": example.text,
                                "predicted": parsed["intent"]["name"],
                                "confidence": round(float(parsed["intent"].get("confidence") or 0.0), 3),
                                "guard": (parsed.get("message_guard") or {}).get("issue")})
    report: Dict[str, object] = {"train_examples": len(train), "test_examples": len(test),
                                 "training_seconds": round(training_seconds), "test_share": test_share,
                                 "seed": seed, "languages": {}}
    confusions: Dict[Tuple[str, str], int] = defaultdict(int)
    for language in (*LANGUAGES, "all"):
        rows = [r for r in results if language == "all" or r[0].language == language]
        accuracy, macro_f1 = _f1([(r[0].intent, r[1]) for r in rows])
        detection = sum(1 for r in rows if r[2] == family(r[0].language)) / len(rows)
        report["languages"][language] = {  # type: ignore[index]
            "examples": len(rows), "intent_accuracy": round(accuracy, 4), "macro_f1": round(macro_f1, 4),
            "fallback_share": round(sum(1 for r in rows if r[1] == FALLBACK) / len(rows), 4),
            "language_detection_accuracy": round(detection, 4)}
    for example, predicted, _ in results:
        if predicted != example.intent:
            confusions[(example.intent, predicted)] += 1
    report["top_confusions"] = [{"intent": i, "predicted": p, "count": c}
                                for (i, p), c in sorted(confusions.items(), key=lambda item: -item[1])[:12]]
    urgent = [p for p in predictions if p["intent"] == "urgent_help"]
    report["urgent_help_recall"] = round(sum(p["predicted"] == "urgent_help" for p in urgent) / len(urgent), 4)
    report["urgent_help_missed"] = [p["text"] for p in urgent if p["predicted"] != "urgent_help"]
    report["predictions"] = predictions
    return report


def render(report: Dict[str, object]) -> str:
    lines = ["| language | test messages | intent accuracy | macro-F1 | fallback share | language detected |",
             "| --- | --- | --- | --- | --- | --- |"]
    for language, values in report["languages"].items():  # type: ignore[union-attr]
        lines.append(f"| {language} | {values['examples']} | {values['intent_accuracy']:.3f} | "
                     f"{values['macro_f1']:.3f} | {values['fallback_share']:.3f} | "
                     f"{values['language_detection_accuracy']:.3f} |")
    return "\n".join(lines)


def main(root: Path, test_share: float, seed: int, output: Path) -> int:
    report = evaluate(root, test_share, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(render(report))
    print(f"\nurgent_help recall {report['urgent_help_recall']:.3f}"
          f" ({len(report['urgent_help_missed'])} missed)")
    print(f"train {report['train_examples']} / test {report['test_examples']} messages, "
          f"training {report['training_seconds']} s; details in {output}")
    return 0


def compare_language_detectors(root: Path) -> str:
    """Accuracy and speed of each detection backend on every training example (`vecina eval language`)."""
    from vecina.nlu.detection import BACKENDS, WORD, detect

    examples = load_examples(root / "data")
    lines = ["| backend | accuracy (all) | accuracy (≥ 3 words) | reliable share | reliable and wrong | µs per message |",
             "| --- | --- | --- | --- | --- | --- |"]
    for backend in BACKENDS:
        detect("hola bon dia", backend)  # load models outside the timing
        started = time.perf_counter()
        detections = [(e, detect(e.text, backend)) for e in examples]
        micros = (time.perf_counter() - started) / len(examples) * 1e6
        right = [d.language == family(e.language) for e, d in detections]
        long_rows = [r for r, (e, _) in zip(right, detections) if len(WORD.findall(e.text)) >= 3]
        reliable = [(r, d) for r, (_, d) in zip(right, detections) if d.reliable]
        lines.append(f"| {backend} | {sum(right) / len(right):.3f} | {sum(long_rows) / len(long_rows):.3f} | "
                     f"{len(reliable) / len(detections):.3f} | {sum(1 for r, _ in reliable if not r)} | {micros:.0f} |")
    return "\n".join(lines) + f"\n\n{len(examples)} messages (es {sum(e.language == 'es' for e in examples)}, " \
        f"ca+va {sum(e.language != 'es' for e in examples)})"
