"""The passthrough page in a real browser, against the local stack.

Uses the `stack` fixture (tests/e2e/conftest.py): `page_url`, `api_key`, and
`openai`, a scripted OpenAI-format server whose `enqueue(status=, body=)` sets
the next provider answer. Chromium comes from Debian (/usr/bin/chromium); the
page must be built first (`cd frontend && npm ci && npm run build`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no browser: /usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000

RATE_LIMITED = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-demo on requests per min (RPM): Limit 3, Used 3, Requested 1.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@pytest.fixture(scope="module")
def browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack) -> Iterator["sync_api.Page"]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.page_url)
    yield page
    context.close()


def sign_in(page, key: str) -> None:
    page.get_by_test_id("api-key-input").fill(key)
    page.get_by_test_id("sign-in").click()


def signed_in(page, stack):
    sign_in(page, stack.api_key)
    expect(page.get_by_test_id("account")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("editor")).not_to_have_value("", timeout=WAIT_MS)
    return page


def load_function_call_template(page) -> dict:
    page.get_by_test_id("provider-select").select_option("openai")
    page.get_by_test_id("template-function").click()
    return json.loads(page.get_by_test_id("editor").input_value())


def send_and_wait(page, status: int) -> dict:
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("response-status")).to_have_text(re.compile(rf"^{status}\b"), timeout=WAIT_MS)
    expect(page.get_by_test_id("send")).to_be_enabled(timeout=WAIT_MS)
    return json.loads(page.get_by_test_id("response-body").inner_text())


def line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_a_wrong_key_shows_the_error_and_stays_signed_out(page):
    sign_in(page, "sk-this-key-does-not-exist")
    expect(page.get_by_test_id("signin-error")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("signin-error")).not_to_be_empty()
    expect(page.get_by_test_id("account")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0


def test_a_valid_key_shows_the_account_and_lives_in_session_storage_only(page, stack):
    sign_in(page, "sk-this-key-does-not-exist")
    expect(page.get_by_test_id("signin-error")).to_be_visible(timeout=WAIT_MS)
    signed_in(page, stack)
    expect(page.get_by_test_id("account")).to_contain_text(re.compile(r"\d{4}-\d{4}-\d{4}"))
    stored = page.evaluate("Object.values({...sessionStorage})")
    assert stored == [stack.api_key]
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("api-key-input")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_function_call_template_uses_the_provider_default_model(page, stack):
    signed_in(page, stack)
    request = load_function_call_template(page)
    option = page.get_by_test_id("provider-select").locator("option:checked").inner_text()
    assert option.startswith("openai")
    assert request["model"]
    assert request["tool_choice"] == "auto"
    assert [tool["type"] for tool in request["tools"]] == ["function"]


def test_broken_json_says_where_and_blocks_send_until_fixed(page, stack):
    signed_in(page, stack)
    request = load_function_call_template(page)
    pretty = page.get_by_test_id("editor").input_value()

    broken = pretty.replace('"tool_choice": "auto"', '"tool_choice": auto')
    page.get_by_test_id("editor").fill(broken)
    line, column = line_column(broken, broken.index(": auto") + 2)
    expect(page.get_by_test_id("json-error")).to_contain_text(f"Line {line}, column {column}")
    expect(page.get_by_test_id("send")).to_be_disabled()

    page.get_by_test_id("editor").fill(json.dumps(request))
    expect(page.get_by_test_id("json-error")).to_have_count(0)
    page.get_by_test_id("format").click()
    expect(page.get_by_test_id("editor")).to_have_value(json.dumps(request, indent=2))
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_sending_shows_status_time_journal_key_and_then_a_provider_error_as_sent(page, stack):
    signed_in(page, stack)
    load_function_call_template(page)

    envelope = send_and_wait(page, 200)
    assert envelope["metadata"]["key"]
    expect(page.get_by_test_id("response-key")).to_have_text(envelope["metadata"]["key"])
    expect(page.get_by_test_id("response-duration")).to_have_text(re.compile(r"^\d+ ms$"))
    assert envelope["data"]["status"] == 200
    assert envelope["data"]["body"]["choices"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "passthrough-page.png"), full_page=True)

    stack.openai.enqueue(status=429, body=RATE_LIMITED)
    envelope = send_and_wait(page, 429)
    assert envelope["data"] == {"status": 429, "body": RATE_LIMITED}
    expect(page.get_by_test_id("response-key")).to_have_text(envelope["metadata"]["key"])
    expect(page.get_by_test_id("response-summary")).to_contain_text(RATE_LIMITED["error"]["message"])
    page.screenshot(path=str(ARTIFACTS / "passthrough-page-provider-error.png"), full_page=True)
