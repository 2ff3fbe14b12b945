"""`vecina eval language`: accuracy and speed of each language-detection backend on our examples."""

from __future__ import annotations

import time
from pathlib import Path

from vecina.evaluation.data import load_examples
from vecina.services.language import family


def compare_language_detectors(root: Path) -> str:
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
