"""`vecina bench`: scripted multi-turn conversations against real servers, on loopback only.

The command starts the servers itself on free 127.0.0.1 ports (our Rasa and action servers with
the model `vecina train` built, and stock Rasa's moodbot from `rasa init`), so it measures a
known setup and can read each process's memory. Every level (concurrent conversations) is
bounded in time and in number of conversations. On our server it also times the NLU alone
(Rasa's /model/parse) on messages of 100 to 5,000 characters.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from vecina.settings import Settings
from vecina.stack import stop_processes

CONVERSATIONS = Path(__file__).with_name("conversations.yml")
TARGETS = ("vecina", "moodbot")
PARSE_LENGTHS = (100, 1000, 2000, 5000)


@dataclass
class Level:
    concurrency: int
    seconds: float = 0.0
    conversations: int = 0
    messages: int = 0
    errors: int = 0
    latencies_ms: List[float] = field(default_factory=list)
    peak_rss_mb: Dict[str, float] = field(default_factory=dict)

    def summary(self) -> Dict[str, object]:
        ordered = sorted(self.latencies_ms)

        def percentile(share: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1) if ordered else 0.0

        return {"concurrency": self.concurrency, "seconds": round(self.seconds, 1),
                "conversations": self.conversations, "messages": self.messages, "errors": self.errors,
                "messages_per_second": round(self.messages / self.seconds, 2) if self.seconds else 0.0,
                "p50_ms": percentile(0.50), "p95_ms": percentile(0.95), "p99_ms": percentile(0.99),
                "mean_ms": round(statistics.fmean(ordered), 1) if ordered else 0.0,
                "peak_rss_mb": self.peak_rss_mb}


def long_message(sentences: Sequence[str], length: int) -> str:
    """Real citizens' sentences, one after another, cut to exactly `length` characters."""
    text = ""
    for sentence in itertools.cycle(sentences):
        if len(text) >= length:
            return text[:length]
        text = f"{text} {sentence}" if text else sentence
    return text


def parse_timings(stack, sentences: Sequence[str], repeats: int) -> List[Dict[str, object]]:  # type: ignore[no-untyped-def]
    """Milliseconds from request to NLU result, per message length; the first parse of each
    length is a warm-up and is not counted."""
    rows = []
    for length in PARSE_LENGTHS:
        text = long_message(sentences, length)
        stack.parse(text)
        timings = Level(1)
        for _ in range(repeats):
            began = time.perf_counter()
            intent = stack.parse(text)["intent"]["name"]
            timings.latencies_ms.append((time.perf_counter() - began) * 1000)
        summary = timings.summary()
        rows.append({"characters": len(text), "parses": repeats, "p50_ms": summary["p50_ms"],
                     "p95_ms": summary["p95_ms"], "max_ms": round(max(timings.latencies_ms), 1), "intent": intent})
    return rows


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, from /proc (Linux)."""
    total_kb, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending += [int(child) for child in children]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return round(total_kb / 1024, 1)


class MemorySampler:
    """Peak RSS of named processes while a level runs (sampled four times a second)."""

    def __init__(self, processes: Dict[str, int]) -> None:
        self.processes = processes
        self.peaks = {name: 0.0 for name in processes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.processes.items():
                self.peaks[name] = max(self.peaks[name], rss_mb(pid))
            self._stop.wait(0.25)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def run_level(url: str, scripts: Sequence[Sequence[str]], concurrency: int, seconds: float,
                    max_conversations: int, tag: str, headers: Optional[Dict[str, str]] = None) -> Level:
    import aiohttp

    level = Level(concurrency)
    deadline = time.monotonic() + seconds
    started = 0

    async def converse(session: aiohttp.ClientSession) -> None:
        nonlocal started
        while time.monotonic() < deadline and started < max_conversations:
            number, started = started, started + 1
            script = scripts[number % len(scripts)]
            sender = f"bench-{tag}-{concurrency}-{number}"
            for text in script:
                began = time.perf_counter()
                try:
                    async with session.post(url, json={"sender": sender, "message": text}, headers=headers) as response:
                        body = await response.json(content_type=None)
                        ok = response.status == 200 and isinstance(body, list) and len(body) > 0
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    ok = False
                level.latencies_ms.append((time.perf_counter() - began) * 1000)
                level.messages += 1
                level.errors += 0 if ok else 1
            level.conversations += 1

    began = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(converse(session) for _ in range(concurrency)))
    level.seconds = time.monotonic() - began
    return level


def _scripts(target: str) -> List[List[str]]:
    from ruamel.yaml import YAML

    by_language = YAML(typ="safe").load(CONVERSATIONS.read_text(encoding="utf-8"))[target]
    # interleave the languages so every level sees all of them
    groups = itertools.zip_longest(*by_language.values())
    return [script for group in groups for script in group if script is not None]


def _start_moodbot(workdir: Path, models_dir: Path) -> tuple:
    """Stock `rasa init` project: trained once per Rasa version (cached), served on loopback."""
    import rasa

    from vecina.stack import die_with_parent, free_port, wait_until_up

    project = workdir / "moodbot"
    shutil.copytree(Path(rasa.__file__).parent / "cli" / "initial_project", project)
    cache = models_dir / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    model, meta = cache / f"moodbot-rasa-{rasa.__version__}.tar.gz", cache / f"moodbot-rasa-{rasa.__version__}.json"
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    if not (model.exists() and meta.exists()):
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "rasa", "train", "--out", str(project / "models"),
                        "--fixed-model-name", "moodbot"], cwd=project, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = round(time.monotonic() - began, 1)
        shutil.move(str(project / "models" / "moodbot.tar.gz"), model)
        meta.write_text(json.dumps({"training_seconds": seconds}))
    port = free_port()
    log = workdir / "moodbot.log"
    process = subprocess.Popen([sys.executable, "-m", "rasa", "run", "--model", str(model), "--port", str(port),
                                "--interface", "127.0.0.1", "--credentials", "credentials.yml"],
                               cwd=project, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process, log, 300)
    except Exception:
        process.kill()
        raise
    return f"http://127.0.0.1:{port}", {"rasa": process}, model, json.loads(meta.read_text())


def _start_vecina(workdir: Path, settings: Settings) -> tuple:
    from vecina.cli import model_path
    from vecina.stack import start_stack

    model = model_path(settings)
    if not model.exists():
        raise FileNotFoundError(f"no model for the current data ({model.name}): run 'make run' or 'vecina train' first")
    # the API, for /model/parse; every conversation comes from loopback: no per-address limit to speak of
    stack = start_stack(workdir, model, {"VECINA_RATE_LIMIT_ADDRESS": "1000000"}, jwt_secret=secrets.token_hex(32))
    meta_path = model.with_suffix("").with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return stack, {name: launcher.process for name, launcher in stack.launchers.items()}, model, meta


def bench_target(target: str, settings: Settings, levels: Sequence[int], seconds: float,
                 max_conversations: int, parse_repeats: int = 20) -> Dict[str, object]:
    scripts = _scripts(target)
    parses: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix=f"vecina-bench-{target}-") as tmp:
        if target == "vecina":
            stack, processes, model, meta = _start_vecina(Path(tmp), settings)
            url, headers = stack.rasa_url, {"Authorization": f"Bearer {stack.rest_token}"}
        else:
            url, processes, model, meta = _start_moodbot(Path(tmp), settings.models_dir)
            headers = None
        webhook = f"{url}/webhooks/rest/webhook"
        pids = {name: process.pid for name, process in processes.items()}
        try:
            idle = {name: rss_mb(pid) for name, pid in pids.items()}
            if target == "vecina":
                parses = parse_timings(stack, [text for script in scripts for text in script], parse_repeats)
            asyncio.run(run_level(webhook, scripts, 1, 600, len(scripts), f"{target}-warmup", headers))
            results = []
            for concurrency in levels:
                with MemorySampler(pids) as sampler:
                    level = asyncio.run(run_level(webhook, scripts, concurrency, seconds, max_conversations, target,
                                                  headers))
                level.peak_rss_mb = dict(sampler.peaks)
                results.append(level.summary())
        finally:
            stop_processes(processes.values())
    return {"levels": results, "parse": parses, "idle_rss_mb": idle, "model": model.name,
            "model_size_mb": round(model.stat().st_size / 1e6, 2),
            "training_seconds": meta.get("training_seconds"), "conversation_scripts": len(scripts)}


def render(report: Dict[str, object]) -> str:
    lines = ["| target | concurrent | conversations | messages | messages/s | p50 ms | p95 ms | p99 ms | errors "
             "| peak RSS MB |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for target, result in report["targets"].items():  # type: ignore[union-attr]
        for level in result["levels"]:
            memory = ", ".join(f"{name} {mb:.0f}" for name, mb in level["peak_rss_mb"].items())
            lines.append(f"| {target} | {level['concurrency']} | {level['conversations']} | {level['messages']} | "
                         f"{level['messages_per_second']:.1f} | {level['p50_ms']:.0f} | {level['p95_ms']:.0f} | "
                         f"{level['p99_ms']:.0f} | {level['errors']} | {memory} |")
    lines += ["", "| target | model | model size MB | training s | idle RSS MB |", "| --- | --- | --- | --- | --- |"]
    for target, result in report["targets"].items():  # type: ignore[union-attr]
        idle = ", ".join(f"{name} {mb:.0f}" for name, mb in result["idle_rss_mb"].items())
        training = result["training_seconds"]
        lines.append(f"| {target} | {result['model']} | {result['model_size_mb']:.1f} | "
                     f"{'–' if training is None else f'{training:.0f}'} | {idle} |")
    for target, result in report["targets"].items():  # type: ignore[union-attr]
        if result.get("parse"):
            lines += ["", f"NLU alone ({target}, /model/parse, one at a time, idle server):", "",
                      "| message characters | parses | p50 ms | p95 ms | max ms |", "| --- | --- | --- | --- | --- |"]
            lines += [f"| {row['characters']:,} | {row['parses']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
                      f"{row['max_ms']:.0f} |" for row in result["parse"]]
    return "\n".join(lines)


def main(settings: Settings, targets: Sequence[str], levels: Sequence[int], seconds: float,
         max_conversations: int, output: Path, command: str) -> int:
    report: Dict[str, object] = {"command": command, "levels": list(levels), "seconds_per_level": seconds,
                                 "max_conversations_per_level": max_conversations, "cpu_count": os.cpu_count(),
                                 "targets": {}}
    for target in targets:
        try:
            report["targets"][target] = bench_target(target, settings, levels, seconds, max_conversations)  # type: ignore[index]
        except (FileNotFoundError, RuntimeError, subprocess.CalledProcessError) as error:
            print(f"vecina: bench {target}: {error}", file=sys.stderr)
            return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    table = render(report)
    output.with_suffix(".md").write_text(f"# Benchmark\n\nCommand: `{command}`\n\n{table}\n", encoding="utf-8")
    print(table)
    print(f"\nreport {output.with_suffix('.md')}, details {output.with_suffix('.json')}")
    return 0

