"""Headless Chromium: the web page talks to the real Rasa server through socket.io, under the
page's Content-Security-Policy, with a session id the page server signed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import start_chromium
from tests.integration.test_webchat import page_url  # noqa: F401 (the page server, a fixture)
from vecina.stack import Stack
from vecina.web.session import SessionSigner

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PHONE_WIDTH = 360


# Runs before any script of every page: records what the Content-Security-Policy blocked.
RECORD_VIOLATIONS = ("window.cspViolations = [];"
                     "document.addEventListener('securitypolicyviolation', function (event) {"
                     "  window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI); });")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium"), phone_width=PHONE_WIDTH)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield driver
    driver.quit()


def _bot_messages(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".message--bot")


def test_send_a_message_click_a_button_and_read_the_reply(browser, page_url: str, kb, stack: Stack,
                                                          tmp_path: Path) -> None:
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
    assert browser.execute_script("return window.cspViolations") == []  # the page works under its CSP
    token = browser.execute_script("return window.localStorage.getItem('vecina-session')")
    raw = SessionSigner(stack.webchat_secret).verify(token)  # signed by the page server
    texts = [e["text"] for e in stack.api.tracker(f"socketio:{raw}")["events"] if e["event"] == "user"]
    assert texts[0] == "que papeles tengo que llevar?"


def test_a_stored_session_id_the_server_refuses_is_replaced(browser, page_url: str, stack: Stack) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_url + "?lang=es")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda driver: driver.find_element(By.ID, "status").text == "")  # this page's session settled
    stale = "0123456789abcdef0123456789abcdef"  # unsigned, as Rasa's own channel issued them
    browser.execute_script("window.localStorage.setItem('vecina-session', arguments[0])", stale)
    browser.refresh()
    wait.until(lambda driver: driver.find_element(By.ID, "status").text == "")
    token = browser.execute_script("return window.localStorage.getItem('vecina-session')")
    assert token != stale and SessionSigner(stack.webchat_secret).verify(token)
    assert browser.execute_script("return window.cspViolations") == []


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
