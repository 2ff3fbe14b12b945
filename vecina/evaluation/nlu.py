"""`vecina eval nlu`: our pipeline against stock Rasa's default pipeline, per language.

Both pipelines are trained on the same training messages and parse the same test messages:
a stratified held-out split of our own data (default), k folds of it, or a TSV test set
(`language<TAB>intent<TAB>text`) with a model trained on all our data. A message that ends in
`nlu_fallback` counts as an error: that is what the citizen experiences. Trained models are
kept under `<models dir>/eval/`, keyed on everything that shaped them, so a rerun on unchanged
data and config loads them instead of training again (`--retrain` forces a training).

Stock Rasa's DIET trains for about an hour and a half on two cores, and it only changes when the data
does, so its held-out predictions are recorded in `docs/baselines/` under the same kind of key
(plus the test messages): a fresh clone compares against the recorded baseline in minutes, and
any change to the training data makes the key miss, so stock is trained again and re-recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from vecina import LANGUAGES
from vecina.evaluation.data import (Example, folds, keyboard_mash, load_examples, read_tsv, split, subsample,
                                    without_leaks)
from vecina.services.language import family

FALLBACK = "nlu_fallback"
URGENT = "urgent_help"
PIPELINES = ("vecina", "stock")
BASELINES = Path("docs") / "baselines"
TEST_SETS = Path("eval")  # committed test sets: stock's predictions for them are recorded too
MASH_COUNT = 200
SWEEP_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def pipeline_config(name: str, root: Path, config: Optional[Path] = None) -> Path:
    """`vecina`: our config.yml (or `config`, to try a change); `stock`: the pipeline `rasa init`
    trains (Rasa's default config, which its generated config.yml leaves empty)."""
    if name == "vecina":
        return config or root / "config.yml"
    import rasa.engine.recipes.default_recipe as recipe

    return Path(recipe.__file__).parent / "config_files" / "default_config.yml"


def _write_config(name: str, root: Path, epochs: Optional[int], workdir: Path, source: Optional[Path]) -> Path:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    config = yaml.load(pipeline_config(name, root, source).read_text(encoding="utf-8"))
    config.pop("policies", None)  # NLU only
    if epochs is not None:
        for component in config["pipeline"]:
            if "epochs" in component or component["name"] in ("DIETClassifier", "ResponseSelector"):
                component["epochs"] = epochs
    path = workdir / f"{name}-config.yml"
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(config, handle)
    return path


def _training_yaml(root: Path, train: Sequence[Example]) -> str:
    """The training messages plus everything else of data/nlu: synonyms, lookups and regexes
    (the urgent phrases among them)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    full = load_data(str(root / "data" / "nlu"))
    return TrainingData(training_examples=[e.message for e in train], entity_synonyms=full.entity_synonyms,
                        regex_features=full.regex_features, lookup_tables=full.lookup_tables).nlu_as_yaml()


def _model_key(name: str, root: Path, config: Path, training_yaml: str) -> str:
    import rasa

    digest = hashlib.sha256()
    for part in (name, rasa.__version__, config.read_text(encoding="utf-8"), training_yaml):
        digest.update(part.encode("utf-8"))
    if name == "vecina":  # our components shape the model too
        for module in sorted((root / "vecina" / "nlu").glob("*.py")):
            digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def _inputs(name: str, root: Path, train: Sequence[Example], epochs: Optional[int], config_file: Optional[Path],
            workdir: Path) -> Tuple[Path, str, str]:
    """The NLU config and training file a model is trained from, and their key."""
    config = _write_config(name, root, epochs, workdir, config_file)
    training_yaml = _training_yaml(root, train)
    return config, training_yaml, _model_key(name, root, config, training_yaml)


def baseline_key(name: str, root: Path, train: Sequence[Example], test: Sequence[Example],
                 epochs: Optional[int], config_file: Optional[Path] = None) -> str:
    """The model key plus the test messages: equal keys mean equal predictions."""
    with tempfile.TemporaryDirectory(prefix=f"vecina-eval-{name}-") as tmp:
        model = _inputs(name, root, train, epochs, config_file, Path(tmp))[2]
    digest = hashlib.sha256(model.encode("utf-8"))
    for example in test:
        digest.update(f"{example.language}\t{example.intent}\t{example.text}\n".encode("utf-8"))
    return digest.hexdigest()[:16]


def baseline_path(root: Path, name: str, key: str) -> Path:
    """`name`: pipeline and plan, such as "stock-split"."""
    return root / BASELINES / f"nlu-{name}-{key}.json"


def load_baseline(root: Path, name: str, key: str) -> Optional[dict]:
    path = baseline_path(root, name, key)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def record_baseline(root: Path, name: str, key: str, training_seconds: float, rows: List[dict]) -> Path:
    """Keeps one recorded baseline per pipeline: the one for the current data."""
    import rasa

    path = baseline_path(root, name, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"nlu-{name}-*.json"):
        old.unlink()
    path.write_text(json.dumps({"key": key, "rasa": rasa.__version__, "training_seconds": training_seconds,
                                "predictions": rows}, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    return path


def train_model(name: str, root: Path, train: Sequence[Example], cache_dir: Path, epochs: Optional[int],
                retrain: bool, config_file: Optional[Path] = None) -> Tuple[Path, float, bool]:
    """The model file, its training seconds, and whether it was loaded from the cache."""
    from rasa.model_training import train_nlu

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"vecina-eval-{name}-") as tmp:
        workdir = Path(tmp)
        config, training_yaml, key = _inputs(name, root, train, epochs, config_file, workdir)
        target, meta = cache_dir / f"{name}-{key}.tar.gz", cache_dir / f"{name}-{key}.json"
        if target.exists() and meta.exists() and not retrain:
            return target, json.loads(meta.read_text())["training_seconds"], True
        (workdir / "train.yml").write_text(training_yaml, encoding="utf-8")
        previous_cache = os.environ.get("RASA_CACHE_DIRECTORY")
        os.environ["RASA_CACHE_DIRECTORY"] = str(workdir / "cache")  # a real training: nothing reused
        started = time.monotonic()
        try:
            model = train_nlu(str(config), str(workdir / "train.yml"), str(workdir), fixed_model_name=name,
                              domain=str(root / "domain"))
        finally:
            if previous_cache is None:
                os.environ.pop("RASA_CACHE_DIRECTORY", None)
            else:
                os.environ["RASA_CACHE_DIRECTORY"] = previous_cache
        seconds = round(time.monotonic() - started, 1)
        shutil.move(str(model), target)
        meta.write_text(json.dumps({"training_seconds": seconds, "examples": len(train)}), encoding="utf-8")
        return target, seconds, False


def _ranking(parsed: dict) -> List[Tuple[str, float]]:
    return [(r["name"], float(r.get("confidence") or 0.0)) for r in parsed.get("intent_ranking") or []
            if r.get("name") != FALLBACK]


def predict(model: Path, test: Sequence[Example]) -> List[dict]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    rows = []
    for example in test:
        parsed = asyncio.run(agent.parse_message(example.text))
        ranking = _ranking(parsed) or [(parsed["intent"]["name"], 0.0)]
        rows.append({
            "language": example.language, "intent": example.intent, "text": example.text,
            "predicted": parsed["intent"]["name"],
            "confidence": round(float(parsed["intent"].get("confidence") or 0.0), 3),
            "top": ranking[0][0], "top_confidence": round(ranking[0][1], 4),
            "second_confidence": round(ranking[1][1], 4) if len(ranking) > 1 else 0.0,
            "urgent_confidence": round(max((c for n, c in ranking if n == URGENT), default=0.0), 4),
            "guard": (parsed.get("message_guard") or {}).get("issue"),
            "detected_language": (parsed.get("language_detection") or {}).get("language"),
            "gold_entities": example.entities,
            "entities": [{"entity": e["entity"], "start": e["start"], "end": e["end"]}
                         for e in parsed.get("entities") or [] if "start" in e],
        })
    return rows


def _scores(truth: List[str], predicted: List[str]) -> Dict[str, object]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    labels = sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    return {
        "examples": len(truth),
        "errors": sum(t != p for t, p in zip(truth, predicted)),
        "intent_accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4),
        "fallback_share": round(sum(p == FALLBACK for p in predicted) / len(predicted), 4),
        "per_intent": {label: {"precision": round(float(p), 3), "recall": round(float(r), 3), "f1": round(float(f), 3),
                               "support": int(s)}
                       for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
    }


def _entity_scores(rows: Iterable[dict]) -> Dict[str, Dict[str, float]]:
    counts: Dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        gold = {(e["entity"], e["start"], e["end"]) for e in row["gold_entities"]}
        found = {(e["entity"], e["start"], e["end"]) for e in row["entities"]}
        for entity, *_ in gold & found:
            counts[entity]["tp"] += 1
        for entity, *_ in found - gold:
            counts[entity]["fp"] += 1
        for entity, *_ in gold - found:
            counts[entity]["fn"] += 1
    scores = {}
    for entity in sorted(counts):
        tp, fp, fn = counts[entity]["tp"], counts[entity]["fp"], counts[entity]["fn"]
        if tp + fn == 0:
            continue  # only entity types the test set annotates
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[entity] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
                          "support": tp + fn}
    return scores


def _confusions(rows: Sequence[dict], top: int = 10) -> List[dict]:
    pairs = Counter((r["intent"], r["predicted"]) for r in rows if r["intent"] != r["predicted"])
    return [{"intent": i, "predicted": p, "count": c} for (i, p), c in pairs.most_common(top)]


def simulate_threshold(row: dict, threshold: float, ambiguity: float = 0.1, urgent_floor: float = 0.25) -> str:
    """What our pipeline would have answered with another FallbackClassifier threshold."""
    if row["guard"]:
        return FALLBACK
    if row["top_confidence"] < threshold or row["top_confidence"] - row["second_confidence"] < ambiguity:
        return URGENT if row["urgent_confidence"] >= urgent_floor else FALLBACK
    return row["top"]


def summarize(rows: Sequence[dict]) -> Dict[str, object]:
    result: Dict[str, object] = {"languages": {}}
    for language in (*LANGUAGES, "all"):
        selected = [r for r in rows if language == "all" or r["language"] == language]
        if not selected:
            continue
        scores = _scores([r["intent"] for r in selected], [r["predicted"] for r in selected])
        detected = [r for r in selected if r["detected_language"] is not None]
        scores["language_detection_accuracy"] = (
            round(sum(r["detected_language"] == family(r["language"]) for r in detected) / len(detected), 4)
            if detected else None)
        scores["top_confusions"] = _confusions(selected)
        result["languages"][language] = scores  # type: ignore[index]
    result["entities"] = _entity_scores(rows)
    urgent = [r for r in rows if r["intent"] == URGENT]
    result["urgent_help_recall"] = round(sum(r["predicted"] == URGENT for r in urgent) / len(urgent), 4) if urgent else None
    result["urgent_help_missed"] = [r["text"] for r in urgent if r["predicted"] != URGENT]
    out_of_scope = [r for r in rows if r["intent"] == "out_of_scope"]
    result["out_of_scope_taken_as_municipal"] = [
        {"text": r["text"], "predicted": r["predicted"]} for r in out_of_scope
        if r["predicted"] not in ("out_of_scope", FALLBACK)]
    return result


def threshold_sweep(rows: Sequence[dict]) -> List[dict]:
    sweep = []
    for threshold in SWEEP_THRESHOLDS:
        simulated = [dict(r, predicted=simulate_threshold(r, threshold)) for r in rows]
        entry = {"threshold": threshold}
        for language in (*LANGUAGES, "all"):
            selected = [r for r in simulated if language == "all" or r["language"] == language]
            scores = _scores([r["intent"] for r in selected], [r["predicted"] for r in selected])
            entry[language] = {"macro_f1": scores["macro_f1"], "fallback_share": scores["fallback_share"]}
        sweep.append(entry)
    return sweep


@dataclass
class Plan:
    """What to train on and what to test, per round (one round, or one per fold); `baseline`: the
    name under which stock's predictions for this plan are kept in docs/baselines — the default
    held-out split and the test sets committed in `eval/` — or None."""
    mode: str
    rounds: List[Tuple[List[Example], List[Example]]]
    baseline: Optional[str] = None


def make_plan(root: Path, test_share: float, seed: int, fold_count: Optional[int], test_file: Optional[Path],
              smoke: bool) -> Plan:
    examples = load_examples(root / "data")
    if smoke:
        examples = subsample(examples, 5, seed)
    if test_file is not None:
        messages = read_tsv(test_file, {e.intent for e in examples})
        test = without_leaks(examples, messages)
        committed = test_file.resolve().parent == (root / TEST_SETS).resolve() and not smoke
        return Plan(f"test set {test_file.name} ({len(messages) - len(test)} of its {len(messages)} messages left out:"
                    " their text is also a training example)", [(examples, test)],
                    test_file.stem if committed else None)
    if fold_count:
        return Plan(f"{fold_count}-fold cross-validation", folds(examples, fold_count, seed))
    return Plan(f"held-out split ({test_share:.0%} of each language and intent, seed {seed})",
                [split(examples, test_share, seed)], None if smoke else "split")


def evaluate(root: Path, pipelines: Sequence[str] = PIPELINES, test_share: float = 0.2, seed: int = 2026,
             fold_count: Optional[int] = None, test_file: Optional[Path] = None, smoke: bool = False,
             epochs: Optional[int] = None, retrain: bool = False, cache_dir: Optional[Path] = None,
             config: Optional[Path] = None) -> Dict[str, object]:
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines
    plan = make_plan(root, test_share, seed, fold_count, test_file, smoke)
    if smoke and epochs is None:
        epochs = 2
    report: Dict[str, object] = {
        "mode": plan.mode, "smoke": smoke, "epochs_override": epochs, "seed": seed,
        "train_examples": len(plan.rounds[0][0]), "test_examples": sum(len(test) for _, test in plan.rounds),
        "pipelines": {}}
    with tempfile.TemporaryDirectory(prefix="vecina-eval-") as tmp:
        models = Path(tmp) if smoke or cache_dir is None else cache_dir
        for name in pipelines:
            rows: List[dict] = []
            seconds, cached = [], []
            recorded = None
            for train, test in plan.rounds:
                key = baseline_key(name, root, train, test, epochs) if name == "stock" and plan.baseline else None
                label = f"{name}-{plan.baseline}"  # used only with a key
                baseline = load_baseline(root, label, key) if key and not retrain else None
                if baseline is not None:
                    recorded = str(baseline_path(root, label, key).relative_to(root))  # type: ignore[arg-type]
                    seconds.append(baseline["training_seconds"])
                    cached.append(True)
                    rows += baseline["predictions"]
                    continue
                model, training_seconds, from_cache = train_model(name, root, train, models, epochs, retrain, config)
                seconds.append(training_seconds)
                cached.append(from_cache)
                predictions = predict(model, test)
                rows += predictions
                if key:
                    record_baseline(root, label, key, training_seconds, predictions)
            result = summarize(rows)
            result.update({"config": str(pipeline_config(name, root, config)), "training_seconds": seconds,
                           "loaded_from_cache": cached, "recorded_baseline": recorded, "predictions": rows})
            if name == "vecina":
                result["threshold_sweep"] = threshold_sweep(rows)
                mash = predict(model, keyboard_mash(MASH_COUNT if not smoke else 10, seed))
                result["keyboard_mash"] = {"messages": len(mash),
                                           "answered": [r["text"] for r in mash if r["predicted"] != FALLBACK]}
            report["pipelines"][name] = result  # type: ignore[index]
    _compare(report)
    return report


def _compare(report: Dict[str, object]) -> None:
    pipelines = report["pipelines"]  # type: ignore[assignment]
    if "vecina" not in pipelines or "stock" not in pipelines:
        return
    reduction = {}
    for language, ours in pipelines["vecina"]["languages"].items():
        stock_errors = pipelines["stock"]["languages"][language]["errors"]
        reduction[language] = round(1 - ours["errors"] / stock_errors, 4) if stock_errors else None
    report["error_reduction_vs_stock"] = reduction


def _number(value: Optional[float], digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_table(report: Dict[str, object]) -> str:
    lines = ["| language | pipeline | messages | errors | intent accuracy | macro-F1 | fallback share | language detected |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    pipelines = report["pipelines"]  # type: ignore[assignment]
    for language in (*LANGUAGES, "all"):
        for name, result in pipelines.items():
            values = result["languages"].get(language)
            if values is None:
                continue
            lines.append(f"| {language} | {name} | {values['examples']} | {values['errors']} | "
                         f"{values['intent_accuracy']:.3f} | {values['macro_f1']:.3f} | "
                         f"{values['fallback_share']:.3f} | {_number(values['language_detection_accuracy'])} |")
    reduction = report.get("error_reduction_vs_stock")
    if reduction:
        lines.append("")
        lines.append("Errors avoided compared with stock Rasa: " + ", ".join(
            f"{language} {_number(value * 100 if value is not None else None, 1)} %" for language, value in reduction.items()))
    return "\n".join(lines)


def render_markdown(report: Dict[str, object], command: str) -> str:
    pipelines = report["pipelines"]  # type: ignore[assignment]
    out = ["# NLU evaluation", "", f"Command: `{command}`", "",
           f"Mode: {report['mode']}; {report['train_examples']} training and {report['test_examples']} test messages"
           + (f"; epochs overridden to {report['epochs_override']}" if report["epochs_override"] else "") + ".", ""]
    for name, result in pipelines.items():
        cached = " (loaded from the model cache)" if all(result["loaded_from_cache"]) else ""
        if result.get("recorded_baseline"):
            cached = f" (predictions recorded in `{result['recorded_baseline']}`)"
        out.append(f"- `{name}`: `{result['config']}`, training {sum(result['training_seconds']):.0f} s{cached}")
    out += ["", "## Summary", "", summary_table(report), ""]
    names = list(pipelines)
    out += ["## Per intent (all languages)", "",
            "| intent | support | " + " | ".join(f"{n} P | {n} R | {n} F1" for n in names) + " | "
            + " | ".join(f"{n} F1 {lang}" for n in names[:1] for lang in LANGUAGES) + " |",
            "| --- | --- | " + " | ".join("--- | --- | ---" for _ in names) + " | "
            + " | ".join("---" for _ in LANGUAGES) + " |"]
    first = pipelines[names[0]]
    for intent, values in first["languages"]["all"]["per_intent"].items():
        cells = []
        for name in names:
            scores = pipelines[name]["languages"]["all"]["per_intent"].get(intent, {})
            cells.append(f"{scores.get('precision', 0):.2f} | {scores.get('recall', 0):.2f} | {scores.get('f1', 0):.2f}")
        per_language = [first["languages"].get(lang, {}).get("per_intent", {}).get(intent, {}).get("f1")
                        for lang in LANGUAGES]
        out.append(f"| {intent} | {values['support']} | " + " | ".join(cells) + " | "
                   + " | ".join(_number(v, 2) for v in per_language) + " |")
    for name in names:
        out += ["", f"## Confusions that cost most: {name}", "", "| language | intent | predicted | count |",
                "| --- | --- | --- | --- |"]
        for language in (*LANGUAGES, "all"):
            for pair in pipelines[name]["languages"].get(language, {}).get("top_confusions", [])[:5]:
                out.append(f"| {language} | {pair['intent']} | {pair['predicted']} | {pair['count']} |")
    out += ["", "## Entities", "", "| entity | support | " + " | ".join(f"{n} P | {n} R | {n} F1" for n in names) + " |",
            "| --- | --- | " + " | ".join("--- | --- | ---" for _ in names) + " |"]
    for entity, values in first["entities"].items():
        cells = []
        for name in names:
            scores = pipelines[name]["entities"].get(entity, {})
            cells.append(f"{scores.get('precision', 0):.2f} | {scores.get('recall', 0):.2f} | {scores.get('f1', 0):.2f}")
        out.append(f"| {entity} | {values['support']} | " + " | ".join(cells) + " |")
    if "threshold_sweep" in first:
        out += ["", "## Fallback threshold (vecina, simulated from the recorded rankings)", "",
                "| threshold | " + " | ".join(f"macro-F1 {lang} | fallback {lang}" for lang in (*LANGUAGES, "all")) + " |",
                "| --- | " + " | ".join("--- | ---" for _ in (*LANGUAGES, "all")) + " |"]
        for entry in first["threshold_sweep"]:
            out.append(f"| {entry['threshold']:.2f} | " + " | ".join(
                f"{entry[lang]['macro_f1']:.3f} | {entry[lang]['fallback_share']:.3f}" for lang in (*LANGUAGES, "all")) + " |")
    for name in names:
        result = pipelines[name]
        out += ["", f"## Safety: {name}", "",
                f"- urgent_help recall: {_number(result['urgent_help_recall'])}; missed: "
                + ("; ".join(f'"{t}"' for t in result["urgent_help_missed"]) or "none"),
                f"- out_of_scope messages taken for a municipal intent: {len(result['out_of_scope_taken_as_municipal'])}"
                + "".join(f'\n  - "{r["text"]}" → {r["predicted"]}' for r in result["out_of_scope_taken_as_municipal"])]
        if "keyboard_mash" in result:
            mash = result["keyboard_mash"]
            out.append(f"- keyboard mash answered with an intent: {len(mash['answered'])} of {mash['messages']}"
                       + (": " + "; ".join(f'"{t}"' for t in mash["answered"]) if mash["answered"] else ""))
    return "\n".join(out) + "\n"


def main(root: Path, output: Path, command: str, **options) -> int:  # type: ignore[no-untyped-def]
    from vecina.evaluation.data import InvalidTestSet

    try:
        report = evaluate(root, **options)
    except InvalidTestSet as error:
        print(f"vecina: {error}")
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = output.with_suffix(".json"), output.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    markdown_path.write_text(render_markdown(report, command), encoding="utf-8")
    print(summary_table(report))
    for name, result in report["pipelines"].items():  # type: ignore[union-attr]
        print(f"{name}: training {sum(result['training_seconds']):.0f} s"
              + (" (recorded baseline)" if result.get("recorded_baseline")
                 else " (cached model)" if all(result["loaded_from_cache"]) else "")
              + f", urgent_help recall {_number(result['urgent_help_recall'])}")
    print(f"{report['mode']}: train {report['train_examples']} / test {report['test_examples']} messages; "
          f"report {markdown_path}, details {json_path}")
    return 0
