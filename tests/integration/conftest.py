"""One real stack (action server + Rasa server with the trained model) for all integration tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

from tests.fakes.meta import FakeMeta
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from vecina.stack import Stack, die_with_parent, free_port, start_stack, wait_until_up
from vecina.cli import model_path
from vecina.settings import ROOT, get_settings

JWT_SECRET = "integration-tests-only-not-a-real-secret"


WHATSAPP_NUMBER = "111000111"
WHATSAPP_VERIFY_TOKEN = "verify-me"
TWILIO_PUBLIC_URL = "https://vecina.example.org"  # as behind a TLS-terminating proxy
TWILIO_SMS_NUMBER = "+34960000001"
TWILIO_TRANSFER_NUMBER = "+34960000099"


@pytest.fixture(scope="session")
def meta() -> FakeMeta:
    """The fake WhatsApp Cloud API the stack's WhatsApp channel talks to."""
    fake = FakeMeta().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def telegram() -> FakeTelegram:
    """The fake Telegram Bot API the stack's Telegram channel talks to."""
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def twilio() -> FakeTwilio:
    """The fake Twilio the stack's SMS, WhatsApp and voice channels talk to."""
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def channel_env(meta: FakeMeta, telegram: FakeTelegram, twilio: FakeTwilio, workdir: Path) -> Dict[str, str]:
    """Every provider channel on, talking to the fakes."""
    return {
        "VECINA_WHATSAPP_BASE_URL": meta.url, "VECINA_WHATSAPP_ACCESS_TOKEN": meta.access_token,
        "VECINA_WHATSAPP_APP_SECRET": meta.app_secret, "VECINA_WHATSAPP_VERIFY_TOKEN": WHATSAPP_VERIFY_TOKEN,
        "VECINA_WHATSAPP_PHONE_NUMBER_IDS": WHATSAPP_NUMBER, "VECINA_WHATSAPP_REOPEN_TEMPLATE": "vecina_reopen",
        "VECINA_WHATSAPP_REMINDER_TEMPLATE": "appointment_reminder",
        "VECINA_TELEGRAM_BASE_URL": telegram.url, "VECINA_TELEGRAM_TOKEN": telegram.token,
        "VECINA_TELEGRAM_SECRET_TOKEN": telegram.secret_token,
        "VECINA_TWILIO_BASE_URL": twilio.url, "VECINA_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "VECINA_TWILIO_AUTH_TOKEN": twilio.auth_token, "VECINA_TWILIO_PUBLIC_URL": TWILIO_PUBLIC_URL,
        "VECINA_TWILIO_SMS_FROM": TWILIO_SMS_NUMBER, "VECINA_TWILIO_WHATSAPP_FROM": f"whatsapp:{TWILIO_SMS_NUMBER}",
        "VECINA_TWILIO_REOPEN_CONTENT_SID": twilio.content_sids[0],
        "VECINA_TWILIO_TRANSFER_NUMBER": TWILIO_TRANSFER_NUMBER,
        "VECINA_MEDIA_DIR": str(workdir / "media"),
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, meta: FakeMeta, telegram: FakeTelegram,
          twilio: FakeTwilio) -> Stack:
    model = model_path(get_settings())
    if not model.exists():
        pytest.fail(f"no trained model for the current data ({model.name}): run 'make train' (make test does)")
    workdir = tmp_path_factory.mktemp("stack")
    channels = channel_env(meta, telegram, twilio, workdir)
    running = start_stack(workdir, model, {"VECINA_CATALAN_VARIETY": "va", **channels}, jwt_secret=JWT_SECRET)
    yield running
    running.stop()


@contextmanager
def served(module: str, env: Dict[str, str], log: Path, ready: str = "/health", seconds: float = 60) -> Iterator[str]:
    """`python -m <module> --port P` on a free loopback port, its output in `log`; its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}{ready}", process, log, seconds)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def start_chromium(profile: Path, phone_width: Optional[int] = None) -> Any:
    """Headless Debian Chromium through chromedriver, with a fresh profile (optionally a phone screen)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if phone_width:  # a headless window cannot be narrower than 500 px: emulate the phone
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": phone_width, "height": 740,
                                                                               "pixelRatio": 2}})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(30)
    return driver
