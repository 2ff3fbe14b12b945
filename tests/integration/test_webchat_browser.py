"""Headless Chromium: the web page talks to the real Rasa server through socket.io."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import start_chromium
from vecina.stack import Stack, die_with_parent, wait_until_up, free_port
from vecina.settings import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PHONE_WIDTH = 360


@pytest.fixture(scope="module")
def page_url(stack: Stack):
    port = free_port()
    env = dict(os.environ, VECINA_DATABASE_URL=f"sqlite:///{stack.workdir / 'vecina.db'}",
               VECINA_WEBCHAT_SOCKET_URL=stack.rasa_url, PYTHONPATH=str(ROOT))
    log = stack.workdir / "web.log"
    process = subprocess.Popen([sys.executable, "-m", "vecina.web", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process, log, 30)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium"), phone_width=PHONE_WIDTH)
    yield driver
    driver.quit()


def _bot_messages(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".message--bot")


def test_send_a_message_click_a_button_and_read_the_reply(browser, page_url: str, kb, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as condition
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_url + "?lang=es")
    wait = WebDriverWait(browser, 60)
    assert browser.find_element(By.ID, "chat-title").text == kb.webchat["title"]["es"]
    wait.until(lambda driver: driver.find_element(By.ID, "status").text == "")  # session confirmed
    field = browser.find_element(By.ID, "message")
    field.send_keys("que papeles tengo que llevar?", Keys.ENTER)
    button = wait.until(condition.element_to_be_clickable((By.CSS_SELECTOR, ".message--bot .message__button")))
    title = button.text
    procedure = next(p for p in kb.procedures.values() if p.name["es"] == title)
    before = len(_bot_messages(browser))
    button.click()
    first_document = procedure.documents[0].name["es"]
    wait.until(lambda driver: any(first_document in m.text for m in _bot_messages(driver)[before:]))
    user_messages = browser.find_elements(By.CSS_SELECTOR, ".message--user")
    assert user_messages[-1].text.endswith(title)  # the click shows the button title, not the payload
    widths = browser.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert widths == [PHONE_WIDTH, PHONE_WIDTH]  # a phone-width screen, and no horizontal scrolling
    browser.save_screenshot(str(Path(os.environ.get("VECINA_SCREENSHOT_DIR", tmp_path)) / "webchat.png"))


def test_language_toggle_switches_page_and_conversation(browser, page_url: str, kb) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_url + "?lang=es")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda driver: driver.find_element(By.ID, "status").text == "")
    before = len(_bot_messages(browser))
    browser.find_element(By.CSS_SELECTOR, '.chat__language[data-language="va"]').click()
    assert browser.find_element(By.ID, "send").text == kb.webchat["send"]["va"]
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ca-valencia"
    wait.until(lambda driver: len(_bot_messages(driver)) > before)
