"""`vecina ...` commands for editors, operators and `make`."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Dict, List, Optional

from vecina.settings import ROOT, Settings, get_settings
from vecina.stack import stop_processes

LOOKUPS_PATH = ROOT / "data" / "nlu" / "lookups" / "kb.yml"
TRAINING_INPUTS = ("config.yml", "domain", "data")


def _fail(message: str) -> int:
    print(f"vecina: {message}", file=sys.stderr)
    return 1


def cmd_kb_validate(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.kb.build import validate_dir

    kb_dir = Path(args.kb_dir or settings.kb_dir)
    if not kb_dir.is_dir():
        return _fail(f"{kb_dir}: not a folder")
    kb, problems, _ = validate_dir(kb_dir)
    for problem in problems:
        print(f"{kb_dir.name}/{problem}")
    if problems or kb is None:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"kb OK: {len(kb.procedures)} procedures, {len(kb.centres)} centres, "
          f"{len(kb.districts)} districts, {len(kb.streets)} streets")
    return 0


def cmd_kb_load(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.kb.store import KbInvalid, load

    kb_dir = Path(args.kb_dir or settings.kb_dir)
    try:
        result = load(kb_dir, settings.database_url)
    except KbInvalid as invalid:
        for problem in invalid.problems:
            print(f"{kb_dir.name}/{problem}")
        return _fail(f"{len(invalid.problems)} problem(s): nothing was loaded")
    counts = ", ".join(f"{count} {name}" for name, count in result.counts.items())
    state = "loaded" if result.changed else "unchanged"
    print(f"kb {state} (version {result.version}): {counts}")
    return 0


def cmd_kb_lookups(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.kb import lookups
    from vecina.kb.build import validate_dir

    kb, problems, _ = validate_dir(Path(args.kb_dir or settings.kb_dir))
    if problems or kb is None:
        return _fail("the kb has problems: run 'vecina kb validate'")
    changed = lookups.write(kb, LOOKUPS_PATH)
    print(f"{LOOKUPS_PATH.relative_to(ROOT)} {'written' if changed else 'unchanged'}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from vecina import db

    db.upgrade(settings.database_url)
    print("database schema up to date")
    return 0


def _team_ids(settings: Settings) -> set:
    from vecina.kb.build import validate_dir

    kb, _problems, _ = validate_dir(Path(settings.kb_dir))
    return set(kb.teams) if kb else set()


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """Staff console accounts. Passwords are read from the terminal (or one line of stdin with
    --password-stdin), never from the command line, where `ps` and shell history would keep them."""
    import getpass

    from vecina import db
    from vecina.services.staff import StaffDirectory, StaffError

    db.upgrade(settings.database_url)
    directory = StaffDirectory(settings.database_url)

    def password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise StaffError("the two passwords differ")
        return first

    try:
        if args.users_command == "add":
            known = _team_ids(settings)
            unknown = sorted(set(args.team or ()) - known)
            if unknown:
                return _fail(f"unknown team(s) {', '.join(unknown)}: kb/teams.yml has {', '.join(sorted(known))}")
            user = directory.add(args.username, args.name or args.username, args.role, password(), args.team or ())
            scope = (", every team" if user.can("all_teams") else ", teams: " + ", ".join(user.teams) if user.teams
                     else ", no team: sees no conversations or appointments (use --team)")
            print(f"user {user.username} added ({user.role}{scope})")
        elif args.users_command == "password":
            directory.set_password(args.username, password())
            print(f"password of {args.username} changed; their sessions were ended")
        elif args.users_command in ("disable", "enable"):
            directory.set_active(args.username, args.users_command == "enable")
            print(f"user {args.username} {args.users_command}d")
        else:
            for user in directory.users():
                teams = "*" if user.can("all_teams") else ",".join(user.teams) or "-"
                print(f"{user.username}\t{user.role}\t{teams}\t{'active' if user.active else 'disabled'}\t"
                      f"{user.display_name}")
    except StaffError as error:
        return _fail(str(error))
    return 0


def cmd_reminders_report(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.services.reminders import report

    figures = report(settings.database_url, args.start, args.end)
    if args.json:
        print(json.dumps(figures.as_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(figures.lines()))
    return 0


def cmd_reminders_send(args: argparse.Namespace, settings: Settings) -> int:
    """Send the reminders of one day's appointments now (the scheduler does it daily)."""
    from vecina.kb.store import KbError, KbReader
    from vecina.scheduler import build_dispatcher
    from vecina.services.reminders import municipal_clock

    if not settings.rasa_jwt_secret:
        return _fail("reminders go out through Rasa's HTTP API: set VECINA_RASA_ENABLE_API and "
                     "VECINA_RASA_JWT_SECRET, as for the Rasa server")
    kb = KbReader(settings.database_url)
    try:
        today = municipal_clock(kb)().date()
    except KbError as error:
        return _fail(str(error))
    try:
        day = {"today": today, "tomorrow": today + timedelta(days=1)}.get(args.day) or _day(args.day)
    except argparse.ArgumentTypeError as error:
        return _fail(f"--for: {error}")
    result = build_dispatcher(settings, kb).send_reminders(day)
    print(f"reminders for the appointments of {day}:")
    print("\n".join(f"  {line}" for line in result.lines()))
    if result.retry_later:
        return _fail(f"{result.retry_later} reminders were not sent because the assistant did not answer "
                     f"(is the Rasa server up at {settings.rasa_api_url}?); run the command again")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a day as YYYY-MM-DD") from None


def cmd_data_validate(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.data_validation import channel_intents, check_rasa_output, dispatched_responses

    command = [sys.executable, "-m", "rasa", "data", "validate", "--data", "data", "--domain", "domain",
               "--config", "config.yml"]
    completed = subprocess.run(command, cwd=ROOT, env=_rasa_env(settings), capture_output=True, text=True)
    problems = check_rasa_output(completed.stdout + completed.stderr, dispatched_responses(ROOT),
                                 channel_intents(ROOT))
    for problem in problems:
        print(problem)
    if completed.returncode != 0 or problems:
        return _fail(f"rasa data validate: {len(problems)} warning(s) or error(s)")
    print("rasa data validate: no warnings (responses sent by custom actions are checked by name)")
    return 0


def cmd_eval_nlu(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.evaluation.nlu import main

    if args.folds is not None and not 2 <= args.folds <= 20:
        return _fail("--folds must be between 2 and 20")
    if not 0 < args.test_share < 1:
        return _fail("--test-share must be between 0 and 1 (e.g. 0.2)")
    if args.test_file and not Path(args.test_file).is_file():
        return _fail(f"{args.test_file}: no such file")

    return main(ROOT, Path(args.output), "vecina " + " ".join(args.argv), pipelines=args.pipelines, test_share=args.test_share,
                seed=args.seed, fold_count=args.folds, test_file=Path(args.test_file) if args.test_file else None,
                smoke=args.smoke, epochs=args.epochs, retrain=args.retrain, cache_dir=settings.models_dir / "eval",
                config=Path(args.config) if args.config else None)


def cmd_eval_language(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.evaluation.language import compare_language_detectors

    print(compare_language_detectors(ROOT))
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.evaluation.bench import main

    if args.smoke:
        args.targets, args.concurrency, args.seconds = ["vecina"], [1, 2], 5.0
    if not all(1 <= level <= 200 for level in args.concurrency) or not 1 <= args.seconds <= 600 \
            or not 1 <= args.max_conversations <= 100_000:
        return _fail("bench is bounded: --concurrency 1-200, --seconds 1-600, --max-conversations 1-100000")
    return main(settings, args.targets, args.concurrency, args.seconds, args.max_conversations, Path(args.output),
                "vecina " + " ".join(args.argv))


def cmd_bench_reminders(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.evaluation.reminders import main

    if not 1 <= args.count <= 100_000 or not 0 < args.rate <= 1000 or not 1 <= args.workers <= 64:
        return _fail("bench-reminders is bounded: --count 1-100000, --rate up to 1000, --workers 1-64")
    return main(settings, args.count, args.rate, args.workers, Path(args.output), "vecina " + " ".join(args.argv))


def cmd_channels_status(args: argparse.Namespace, settings: Settings) -> int:
    from vecina.channels.report import status_lines
    from vecina.db import upgrade

    upgrade(settings.database_url)
    print("\n".join(status_lines(settings)))
    return 0


def training_fingerprint() -> str:
    """Hash of everything training reads: retrain only when one of these changes."""
    digest = hashlib.sha256()
    for name in TRAINING_INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    for module in ("language_detector.py", "guard.py", "detection.py"):
        digest.update((ROOT / "vecina" / "nlu" / module).read_bytes())
    return digest.hexdigest()[:16]


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"vecina-{training_fingerprint()}.tar.gz"


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    target = model_path(settings)
    if target.exists() and not args.force:
        print(f"model up to date: {target}")
        return 0
    command = [sys.executable, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain",
               "--data", "data", "--out", str(settings.models_dir), "--fixed-model-name", target.name[:-len(".tar.gz")]]
    print(f"training {target.name} (data, domain or config changed)")
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, env=_rasa_env(settings))
    if completed.returncode != 0:
        return _fail("training failed")
    seconds = round(time.monotonic() - started, 1)
    # read by `vecina bench`; components reused from Rasa's cache make a retraining shorter
    target.with_name(target.name[:-len(".tar.gz")] + ".json").write_text(json.dumps({"training_seconds": seconds}))
    print(f"model {target} (trained in {seconds:.0f} s)")
    return 0


def _rasa_env(settings: Settings) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(settings.rasa_environment())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def cmd_rasa_env(args: argparse.Namespace, settings: Settings) -> int:
    """Print `export` lines, for running rasa by hand with the same configuration."""
    for key, value in settings.rasa_environment().items():
        print(f"export {key}={value!r}")
    return 0


def server_commands(settings: Settings, model: Path) -> Dict[str, List[str]]:
    python = sys.executable
    return {
        "actions": [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.actions_port)],
        "rasa": [python, "-m", "vecina.rasa_server", "--model", str(model)],  # secrets stay off the command line
        "web": [python, "-m", "vecina.web", "--port", str(settings.web_port), "--host", settings.bind_host],
        "console": [python, "-m", "vecina.console", "--port", str(settings.console_port), "--host", settings.bind_host],
        "scheduler": [python, "-m", "vecina.scheduler"],
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run one service in the foreground (production: one service per container or unit)."""
    model = model_path(settings)
    if args.service == "rasa" and not model.exists():
        return _fail(f"no model for the current data ({model.name}): run 'vecina train'")
    command = server_commands(settings, model)[args.service]
    os.chdir(ROOT)
    os.execvpe(command[0], command, _rasa_env(settings))
    return 1


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare (kb, lookups, model) and run every process in the foreground until Ctrl-C."""
    for step in (cmd_kb_load, cmd_kb_lookups, cmd_train):
        if step(args, settings) != 0:
            return 1
    if not settings.rasa_enable_api:
        # The console replies through Rasa's HTTP API: on this machine it gets a secret of its own,
        # made for this run and passed only in the environment of the processes started here.
        secret = secrets.token_urlsafe(48)
        os.environ.update({"VECINA_RASA_ENABLE_API": "true", "VECINA_RASA_JWT_SECRET": secret})
        settings = settings.copy(update={"rasa_enable_api": True, "rasa_jwt_secret": secret})
    if not settings.webchat_secret:
        # The page server signs web chat session ids and the Rasa server verifies them: one secret
        # for both, made for this run like the API's (browsers then start new conversations).
        secret = secrets.token_urlsafe(48)
        os.environ["VECINA_WEBCHAT_SECRET"] = secret
        settings = settings.copy(update={"webchat_secret": secret})
    env = _rasa_env(settings)
    processes: Dict[str, subprocess.Popen] = {}
    for name, command in server_commands(settings, model_path(settings)).items():
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env)
    host = settings.bind_host
    print(f"\nVecina is starting (the Rasa server needs about a minute to load the model):\n"
          f"  web chat      http://{host}:{settings.web_port}/\n"
          f"  Rasa server   http://{host}:{settings.rasa_port}/  (REST: /webhooks/rest/webhook, with VECINA_REST_TOKEN)\n"
          f"  action server http://{host}:{settings.actions_port}/health\n"
          f"  staff console http://{host}:{settings.console_port}/  (accounts: vecina users add NAME --role admin)\n"
          f"  scheduler     appointment reminders daily at {settings.reminders_at} (docs/appointments.md)\n"
          f"Press Ctrl-C to stop.\n", flush=True)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"vecina: the {name} process stopped (exit {process.returncode}); stopping all",
                      file=sys.stderr)
                stopping, exit_code = True, 1
        time.sleep(0.5)
    stop_processes(processes.values())
    print("Vecina stopped.")
    return exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vecina", description="Vecina citizen-service assistant")
    commands = parser.add_subparsers(dest="command", required=True)

    kb = commands.add_parser("kb", help="knowledge base").add_subparsers(dest="kb_command", required=True)
    for name, function, help_text in (
        ("validate", cmd_kb_validate, "check kb/ and print every problem as file:line: message"),
        ("load", cmd_kb_load, "validate and load kb/ into the database (safe to repeat)"),
        ("lookups", cmd_kb_lookups, "regenerate the NLU synonyms and lookup tables from kb/"),
    ):
        sub = kb.add_parser(name, help=help_text)
        sub.add_argument("--kb-dir", help="kb folder (default: VECINA_KB_DIR or ./kb)")
        sub.set_defaults(function=function)

    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply database migrations").set_defaults(function=cmd_db_upgrade)

    channels = commands.add_parser("channels", help="messaging channels").add_subparsers(dest="channels_command",
                                                                                       required=True)
    channels.add_parser("status", help="configured channels, message counts, failed messages (no content)") \
        .set_defaults(function=cmd_channels_status)

    data = commands.add_parser("data", help="training data").add_subparsers(dest="data_command", required=True)
    data.add_parser("validate", help="rasa data validate, failing on any warning").set_defaults(
        function=cmd_data_validate)

    train = commands.add_parser("train", help="train the model when data, domain or config changed")
    train.add_argument("--force", action="store_true", help="train even when a model for these inputs exists")
    train.set_defaults(function=cmd_train)

    evaluation = commands.add_parser("eval", help="measure quality").add_subparsers(dest="eval_command",
                                                                                      required=True)
    nlu = evaluation.add_parser("nlu", help="our pipeline against stock Rasa's, per language",
                                description="Trains (or loads from the model cache) our pipeline and stock Rasa's "
                                            "default pipeline on the same messages and reports both per language.")
    nlu.add_argument("--pipelines", nargs="+", choices=("vecina", "stock"), default=["vecina", "stock"])
    nlu.add_argument("--test-share", type=float, default=0.2, help="share of each language and intent held out")
    nlu.add_argument("--folds", type=int, help="k-fold cross-validation on our data instead of one split")
    nlu.add_argument("--test-file", help="TSV test set (language<TAB>intent<TAB>text); trains on all our data")
    nlu.add_argument("--seed", type=int, default=2026)
    nlu.add_argument("--config", help="our pipeline from another config file, to try a change (default config.yml)")
    nlu.add_argument("--epochs", type=int, help="override the classifiers' epochs (quick experiments)")
    nlu.add_argument("--smoke", action="store_true",
                     help="a quick check of the whole command: 5 examples per intent and language, 2 epochs")
    nlu.add_argument("--retrain", action="store_true", help="train even when a cached model fits")
    nlu.add_argument("--output", default=str(ROOT / "results" / "nlu"),
                     help="report path without extension: writes .md and .json (default results/nlu)")
    nlu.set_defaults(function=cmd_eval_nlu)

    evaluation.add_parser("language", help="compare the language detection backends on our examples") \
        .set_defaults(function=cmd_eval_language)

    bench = commands.add_parser("bench", help="load test: scripted conversations against real servers on loopback",
                                description="Starts our Rasa and action servers (and stock Rasa's moodbot) on "
                                            "127.0.0.1 and runs scripted conversations at each concurrency level.")
    bench.add_argument("--targets", nargs="+", choices=("vecina", "moodbot"), default=["vecina", "moodbot"])
    bench.add_argument("--concurrency", nargs="+", type=int, default=[1, 10, 50],
                       help="concurrent conversations per level (default 1 10 50)")
    bench.add_argument("--seconds", type=float, default=60.0, help="length of each level (default 60)")
    bench.add_argument("--max-conversations", type=int, default=5000, help="cap per level (default 5000)")
    bench.add_argument("--smoke", action="store_true", help="a quick check: vecina only, 1 and 2 concurrent, 5 s")
    bench.add_argument("--output", default=str(ROOT / "results" / "bench"),
                       help="report path without extension: writes .md and .json (default results/bench)")
    bench.set_defaults(function=cmd_bench)

    run = commands.add_parser("run", help="prepare and start everything in the foreground")
    run.add_argument("--kb-dir", help=argparse.SUPPRESS)
    run.set_defaults(function=cmd_run, force=False)

    bench_reminders = commands.add_parser(
        "bench-reminders", help="benchmark: a day's reminders against the local fake WhatsApp API",
        description="Starts our servers on loopback, writes COUNT appointments for tomorrow and sends their "
                    "reminders as `vecina reminders send` does, at most RATE a second (docs/performance.md).")
    bench_reminders.add_argument("--count", type=int, default=10_000, help="appointments (default 10000)")
    bench_reminders.add_argument("--rate", type=float, default=80.0,
                                 help="the provider's limit to stay under, per second (default 80, Meta's default tier)")
    bench_reminders.add_argument("--workers", type=int, default=8, help="conversations at a time (default 8)")
    bench_reminders.add_argument("--output", default=str(ROOT / "results" / "reminders-bench"),
                                 help="report path without extension (.md and .json are written)")
    bench_reminders.set_defaults(function=cmd_bench_reminders)
    users = commands.add_parser("users", help="staff console accounts").add_subparsers(dest="users_command",
                                                                                      required=True)
    add = users.add_parser("add", help="add a staff account (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=("agent", "supervisor", "admin"), default="agent")
    add.add_argument("--name", help="the name citizens see next to replies (default: the username)")
    add.add_argument("--team", action="append", help="a team id from kb/teams.yml (repeat); an agent sees only these "
                     "teams' data (none without --team), supervisors and admins every team")
    for name, help_text in (("password", "set a new password (ends the user's sessions)"),
                            ("disable", "disable an account (ends its sessions)"), ("enable", "enable an account")):
        users.add_parser(name, help=help_text).add_argument("username")
    users.add_parser("list", help="list the accounts")
    for sub in users.choices.values():
        sub.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
        sub.set_defaults(function=cmd_users)

    reminders = commands.add_parser("reminders", help="appointment reminders").add_subparsers(
        dest="reminders_command", required=True)
    reminders_report = reminders.add_parser("report", help="reminder figures for the appointments of a period")
    reminders_report.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD")
    reminders_report.add_argument("--to", dest="end", type=_day, required=True, help="last day, YYYY-MM-DD")
    reminders_report.add_argument("--json", action="store_true", help="print JSON (for the dashboard)")
    reminders_report.set_defaults(function=cmd_reminders_report)
    reminders_send = reminders.add_parser("send", help="send the reminders of one day's appointments (once each)")
    reminders_send.add_argument("--for", dest="day", default="tomorrow",
                                help="tomorrow (default), today, or a day as YYYY-MM-DD")
    reminders_send.set_defaults(function=cmd_reminders_send)

    serve = commands.add_parser("serve", help="run one service in the foreground (rasa, actions, web, console "
                                              "or scheduler)")
    serve.add_argument("service", choices=("rasa", "actions", "web", "console", "scheduler"))
    serve.set_defaults(function=cmd_serve)

    commands.add_parser("rasa-env", help="print the environment Rasa needs").set_defaults(function=cmd_rasa_env)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        settings = get_settings()
    except Exception as error:  # pydantic's ValidationError names the variable
        return _fail(f"configuration error: {error}")
    return int(args.function(args, settings))


if __name__ == "__main__":
    sys.exit(main())
