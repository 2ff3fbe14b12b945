"""`vecina bench-reminders`: how fast a day's reminders go out, against the local fake WhatsApp
Cloud API (tests/fakes/meta.py, so this needs the repository, not only the installed package).

It starts our Rasa and action servers on free 127.0.0.1 ports with a fresh SQLite database,
writes N appointments for one day (each citizen outside the 24-hour window, so each reminder is
one approved template), runs the same dispatcher `vecina reminders send` uses, and compares the
rate at the provider with the configured limit (VECINA_REMINDERS_PER_SECOND).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict

from vecina.settings import ROOT, Settings

JWT_SECRET = "bench-only-secret-of-the-required-length-0123456789"
NUMBER = "111000111"


def seed(database_url: str, count: int, day: datetime) -> None:
    """`count` appointments on `day` at the town hall's office, one desk each (benchmark data)."""
    from sqlalchemy import insert

    from vecina.db import session_scope
    from vecina.db.models import Appointment

    rows = [dict(office="oac-ajuntament", service="census", starts_at=day + timedelta(minutes=15 * (n % 24)),
                 ends_at=day + timedelta(minutes=15 * (n % 24) + 15), desk=n, conversation_id=f"whatsapp:+346{n:08d}",
                 channel="whatsapp", language=("es", "ca", "va")[n % 3], phone=f"+346{n:08d}", status="booked",
                 created_at=datetime.now(), updated_at=datetime.now()) for n in range(count)]
    with session_scope(database_url) as session:
        for start in range(0, count, 1000):
            session.execute(insert(Appointment), rows[start:start + 1000])


def peak_per_second(times: list) -> int:
    return max(Counter(int(t) for t in times).values()) if times else 0


def main(settings: Settings, count: int, rate: float, workers: int, output: Path, command: str) -> int:
    sys.path.insert(0, str(ROOT))
    try:
        from tests.fakes.meta import FakeMeta
    except ImportError:
        print("vecina: bench-reminders needs the repository's tests/fakes (run it from a clone)", file=sys.stderr)
        return 1
    from vecina.cli import model_path
    from vecina.kb.store import KbReader
    from vecina.scheduler import build_dispatcher
    from vecina.services.reminders import municipal_clock
    from vecina.stack import start_stack

    model = model_path(settings)
    if not model.exists():
        print(f"vecina: no model for the current data ({model.name}): run 'vecina train'", file=sys.stderr)
        return 1
    meta = FakeMeta().start()
    workdir = Path(tempfile.mkdtemp(prefix="vecina-bench-reminders-"))
    env = {"VECINA_WHATSAPP_BASE_URL": meta.url, "VECINA_WHATSAPP_ACCESS_TOKEN": meta.access_token,
           "VECINA_WHATSAPP_APP_SECRET": meta.app_secret, "VECINA_WHATSAPP_VERIFY_TOKEN": "bench",
           "VECINA_WHATSAPP_PHONE_NUMBER_IDS": NUMBER, "VECINA_WHATSAPP_REMINDER_TEMPLATE": "appointment_reminder"}
    stack = start_stack(workdir, model, env, jwt_secret=JWT_SECRET)
    try:
        database = f"sqlite:///{workdir / 'vecina.db'}"
        kb = KbReader(database)
        day = datetime.combine(municipal_clock(kb)().date() + timedelta(days=1), datetime.min.time()).replace(hour=9)
        seed(database, count, day)
        local = Settings(database_url=database, console_rasa_url=stack.rasa_url, rasa_jwt_secret=JWT_SECRET,
                         reminders_workers=workers)
        dispatcher = build_dispatcher(local, kb, per_second=rate)
        started = time.time()
        result = dispatcher.send_reminders(day.date())
        again = dispatcher.send_reminders(day.date())
        times = [t for t in meta.times if t >= started]
    finally:
        stack.stop()
        meta.stop()
    report: Dict[str, object] = {
        "command": command, "appointments": count, "configured_rate_per_second": rate, "workers": workers,
        "cpu_count": os.cpu_count(), "sent": result.sent, "failed": dict(result.failed),
        "retry_later": result.retry_later, "seconds": round(result.seconds, 1),
        "reminders_per_second": round(result.per_second, 2),
        "share_of_limit": round(result.per_second / rate, 3),
        "provider_messages": len(meta.sent), "provider_refused": len(meta.refused),
        "provider_peak_per_second": peak_per_second(times), "second_run_sent": again.sent,
    }
    lines = [f"| {key} | {value} |" for key, value in report.items() if key != "command"]
    table = "| measure | value |\n| --- | --- |\n" + "\n".join(lines)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    output.with_suffix(".md").write_text(f"# Reminder dispatch\n\nCommand: `{command}`\n\n{table}\n", encoding="utf-8")
    print(table)
    print(f"\nreport {output.with_suffix('.md')}")
    return 0 if result.sent == count and again.sent == 0 else 1
