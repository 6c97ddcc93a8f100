"""The passthrough page in a real browser, against the local stack.

Uses the `stack` fixture (tests/e2e/conftest.py): `page_url`, `api_key`, and
`openai`, a scripted OpenAI-format server whose `enqueue(status=, body=, raw=,
delay=, headers=)` sets the next provider answer. Chromium comes from Debian
(/usr/bin/chromium); the page must be built first (`make page`).

Every request goes to the real local stack, except where a test docstring
says otherwise: a streamed passthrough answer (the gateway's streaming is not
merged yet) comes from `page.route` with the contract's shape
(`text/event-stream`, `chat.completion.chunk` events, `data: [DONE]`), or,
to see it arrive chunk by chunk, from an init script standing in for fetch;
a key revoked in the middle of a session is a routed 401 envelope.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smarter_local.openai_server import completion, tool_calls

import needs
from playwright import sync_api  # a dev dependency: `make install` brings it

CHROMIUM = Path("/usr/bin/chromium")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOT = ROOT / "docs" / "images" / "passthrough-page.png"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
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
KEY_ENTRY = "smarter.passthrough.apiKey"
STATE_ENTRY = "smarter.passthrough.state"

RATE_LIMITED = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-demo on requests per min (RPM): Limit 3, Used 3, Requested 1.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@pytest.fixture(autouse=True)
def _chromium_and_the_built_page():
    """Checked per test, not at import: `-m "not browser"` deselects these without looking."""
    if not CHROMIUM.exists():
        needs.missing("no browser: /usr/bin/chromium is missing (`make system-deps` installs Debian's chromium)")
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        needs.missing("the page is not built: `make page` builds frontend/dist")


@pytest.fixture(scope="module")
def browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, stack, **options) -> "sync_api.Page":
    context = browser.new_context(**{"viewport": {"width": 1440, "height": 1000}, "device_scale_factor": 1, **options})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.page_url)
    return page


@pytest.fixture
def page(browser, stack) -> Iterator["sync_api.Page"]:
    page = open_page(browser, stack)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser, stack) -> Iterator["sync_api.Page"]:
    page = open_page(browser, stack, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    yield page
    page.context.close()


# --- helpers ---------------------------------------------------------------------


def sign_in(page, key: str) -> None:
    page.get_by_test_id("api-key-input").fill(key)
    page.get_by_test_id("sign-in").click()


def signed_in(page, stack):
    sign_in(page, stack.api_key)
    expect(page.get_by_test_id("account")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("json-ok")).to_be_visible(timeout=WAIT_MS)
    return page


def editor(page):
    return page.get_by_test_id("editor")


def editor_text(page) -> str:
    """CodeMirror draws the lines of the viewport; the bodies here all fit in it."""
    return editor(page).evaluate("el => Array.from(el.querySelectorAll('.cm-line'), line => line.textContent).join('\\n')")


def editor_json(page) -> dict:
    return json.loads(editor_text(page))


def set_editor(page, text: str) -> None:
    editor(page).fill(text)
    expect(page.get_by_test_id("json-ok").or_(page.get_by_test_id("json-error"))).to_be_visible()


def paste(page, text: str) -> None:
    """Select all and paste, as a user does with a big body (typing it through CDP would take minutes)."""
    editor(page).focus()
    page.evaluate(
        """text => {
            const content = document.querySelector('.cm-content')
            const data = new DataTransfer()
            data.setData('text/plain', text)
            document.execCommand('selectAll')
            content.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}))
        }""",
        text,
    )


def choose(page, provider: str) -> None:
    page.get_by_test_id("provider-select").select_option(provider)


def load_function_call_template(page) -> dict:
    choose(page, "openai")
    page.get_by_test_id("template-function").click()
    if page.get_by_test_id("template-replace").count():
        page.get_by_test_id("template-replace").click()
    return editor_json(page)


def send_and_wait(page, status: int) -> dict:
    page.get_by_test_id("send").click()
    return wait_for_answer(page, status)


def wait_for_answer(page, status: int) -> dict:
    expect(page.get_by_test_id("response-status")).to_have_text(re.compile(rf"^{status}\b"), timeout=WAIT_MS)
    expect(page.get_by_test_id("send")).not_to_have_attribute("aria-disabled", "true", timeout=WAIT_MS)
    return json.loads(page.get_by_test_id("response-body").text_content())


def line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def axe_violations(page) -> list[dict]:
    """axe-core from the page's node_modules, injected into the page; serious and critical only."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def sse(*events: dict) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


STREAM = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Streaming "}),
    chunk({"content": "works, "}),
    chunk({"content": "**token** by token."}),
    chunk({}, "stop"),
    {**chunk({}), "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}},
)


# --- signing in ------------------------------------------------------------------


def test_a_wrong_key_shows_the_error_and_stays_signed_out(page):
    sign_in(page, "sk-this-key-does-not-exist")
    expect(page.get_by_test_id("signin-error")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("signin-error")).not_to_be_empty()
    expect(page.get_by_test_id("account")).to_have_count(0)
    assert page.evaluate("sessionStorage.length") == 0


def test_the_sign_in_screen_says_where_a_key_comes_from(page):
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_text("Where do I get a key?").click()
    expect(page.get_by_test_id("key-help")).to_contain_text("smarter apikey create")
    expect(page.get_by_test_id("key-help")).to_contain_text("make run")


def test_a_valid_key_shows_the_account_and_lives_in_session_storage_only(page, stack):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, "sk-this-key-does-not-exist")
    expect(page.get_by_test_id("signin-error")).to_be_visible(timeout=WAIT_MS)
    signed_in(page, stack)
    expect(page.get_by_test_id("account")).to_contain_text(re.compile(r"\d{4}-\d{4}-\d{4}"))
    storage = page.evaluate("({...sessionStorage})")
    assert storage[KEY_ENTRY] == stack.api_key
    assert all(stack.api_key not in value for name, value in storage.items() if name != KEY_ENTRY)
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert stack.api_key not in page.url
    send_and_wait(page, 200)
    assert not [line for line in console if stack.api_key in line]

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("api-key-input")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_ENTRY}')") is None


def test_focus_goes_to_the_editor_after_sign_in_and_the_sign_in_is_announced(page, stack):
    signed_in(page, stack)
    expect(editor(page)).to_be_focused()
    expect(page.get_by_test_id("announcer")).to_contain_text("Signed in to account")


def test_a_key_revoked_mid_session_signs_out_with_a_message(page, stack):
    """The gateway's 401 envelope comes from `page.route`: the stack has no way to revoke a key from the browser."""
    signed_in(page, stack)
    page.route(
        "**/v1/passthrough/**",
        lambda route: route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps(
                {
                    "api": "smarter.sh/v1",
                    "thing": "Prompt",
                    "metadata": {"command": "passthrough", "key": "j-revoked"},
                    "error": {"type": "unauthorized", "message": "the API key is not valid", "status": 401},
                }
            ),
        ),
    )
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("no longer accepted")
    expect(page.get_by_test_id("account")).to_have_count(0)
    assert page.evaluate(f"sessionStorage.getItem('{KEY_ENTRY}')") is None


# --- providers -------------------------------------------------------------------


def test_a_configured_provider_is_preselected_and_offline_when_nothing_else_is(page, stack):
    """The real provider listing, with every provider but offline and local marked not configured (a fresh gateway)."""

    def fresh_gateway(route):
        response = route.fetch()
        envelope = response.json()
        for provider in envelope["data"]["providers"]:
            provider["configured"] = provider["name"] in ("offline", "local")
        route.fulfill(response=response, body=json.dumps(envelope))

    page.route("**/v1/providers", fresh_gateway)
    signed_in(page, stack)
    expect(page.get_by_test_id("provider-select")).to_have_value("offline")
    envelope = send_and_wait(page, 200)
    assert envelope["data"]["status"] == 200
    expect(page.get_by_test_id("response-model")).to_contain_text("offline")


def test_the_default_provider_is_preselected_when_it_is_configured(page, stack):
    signed_in(page, stack)
    expect(page.get_by_test_id("provider-select")).to_have_value("openai")
    assert editor_json(page)["model"] == "gpt-4o-mini"


def test_the_function_call_template_uses_the_provider_default_model(page, stack):
    signed_in(page, stack)
    request = load_function_call_template(page)
    option = page.get_by_test_id("provider-select").locator("option:checked").inner_text()
    assert option.startswith("openai")
    assert request["model"]
    assert request["tool_choice"] == "auto"
    assert [tool["type"] for tool in request["tools"]] == ["function"]


def test_docs_links_are_absolute_and_the_offline_one_does_not_open_the_page(page, stack):
    signed_in(page, stack)
    for name in ("openai", "offline"):
        choose(page, name)
        for href in page.get_by_test_id("provider-line").locator("a").evaluate_all("links => links.map(a => a.href)"):
            assert href.startswith("https://"), href
    expect(page.get_by_test_id("provider-line")).to_contain_text("docs/api.md#providers")


def test_a_provider_without_a_key_says_what_a_browser_user_can_do(page, stack):
    signed_in(page, stack)
    choose(page, "mistral")
    expect(page.get_by_test_id("provider-line")).to_contain_text("no platform key configured")
    send_and_wait(page, 502)
    summary = page.get_by_test_id("response-summary")
    expect(summary).to_contain_text("has no API key for mistral")
    expect(summary).to_contain_text("offline always answers")
    expect(summary).not_to_contain_text("smarter/providers")


def test_a_local_provider_nothing_listens_on_is_not_offered_as_configured_and_a_refusal_says_so(page, stack):
    """Nothing listens on 127.0.0.1:11434 here (the stack's `local`): refused at once, not a 504."""
    signed_in(page, stack)
    option = page.locator("#provider option[value=local]")
    expect(option).to_have_text(re.compile(r"not running"))
    assert option.evaluate("o => o.parentElement.label") == "Not available on this gateway"
    choose(page, "local")
    expect(page.get_by_test_id("provider-problem")).to_have_text("nothing answers at its address")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("response-status")).to_have_text(re.compile(r"^502\b"))
    summary = page.get_by_test_id("response-summary")
    expect(summary).to_contain_text("refused the connection")
    expect(summary).not_to_contain_text("shorter answer")


def test_switching_provider_changes_only_the_model_and_clears_the_answer(page, stack):
    signed_in(page, stack)
    compact = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    set_editor(page, compact)
    send_and_wait(page, 200)
    choose(page, "offline")
    assert editor_text(page) == compact.replace("gpt-4o-mini", "offline-echo")
    expect(page.get_by_test_id("response-status")).to_have_count(0)
    expect(page.get_by_test_id("response-model")).to_have_count(0)


# --- the editor ------------------------------------------------------------------


def test_broken_json_says_where_and_blocks_send_until_fixed(page, stack):
    signed_in(page, stack)
    request = load_function_call_template(page)
    pretty = editor_text(page)

    broken = pretty.replace('"tool_choice": "auto"', '"tool_choice": auto')
    set_editor(page, broken)
    line, column = line_column(broken, broken.index(": auto") + 2)
    expect(page.get_by_test_id("json-error")).to_contain_text(f"Line {line}, column {column}")
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(page.locator(".cm-error-line")).to_have_count(1)

    set_editor(page, json.dumps(request))
    expect(page.get_by_test_id("json-error")).to_have_count(0)
    page.get_by_test_id("format").click()
    assert editor_text(page) == json.dumps(request, indent=2)
    expect(page.get_by_test_id("send")).to_be_enabled()


@pytest.mark.parametrize("body", ["[]", "null", '"hello"', "42"])
def test_json_that_is_not_an_object_is_not_a_valid_request(page, stack, body):
    signed_in(page, stack)
    set_editor(page, body)
    expect(page.get_by_test_id("json-ok")).to_have_count(0)
    expect(page.get_by_test_id("json-error")).to_contain_text("must be a JSON object")
    expect(page.get_by_test_id("send")).to_be_disabled()


def test_a_template_click_asks_before_overwriting_edits_and_can_be_undone(page, stack):
    signed_in(page, stack)
    mine = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "my own words"}]}'
    set_editor(page, mine)

    page.get_by_test_id("template-roles").click()
    expect(page.get_by_test_id("template-confirm")).to_be_visible()
    page.get_by_test_id("template-keep").click()
    assert editor_text(page) == mine

    page.get_by_test_id("template-roles").click()
    page.get_by_test_id("template-replace").click()
    assert len(editor_json(page)["messages"]) == 4
    page.get_by_test_id("undo").click()
    assert editor_text(page) == mine

    # The editor's own undo brings the edits back too.
    page.get_by_test_id("template-roles").click()
    page.get_by_test_id("template-replace").click()
    editor(page).click()
    page.keyboard.press("Control+z")
    assert editor_text(page) == mine

    # An unedited template is replaced without a question.
    page.get_by_test_id("template-hello").click()
    page.get_by_test_id("template-replace").click()
    page.get_by_test_id("template-function").click()
    expect(page.get_by_test_id("template-confirm")).to_have_count(0)
    assert editor_json(page)["tool_choice"] == "auto"


def test_the_controls_edit_the_json_without_reformatting_it(page, stack):
    signed_in(page, stack)
    compact = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    set_editor(page, compact)
    page.get_by_test_id("temperature").fill("0.3")
    page.get_by_test_id("max-tokens").fill("64")
    page.get_by_test_id("system-prompt").fill("Be brief.")
    page.get_by_test_id("model-input").fill("gpt-4o")
    page.get_by_test_id("stream").check()
    request = editor_json(page)
    assert request == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "max_tokens": 64,
        "stream": True,
    }
    assert editor_text(page).startswith('{"model": "gpt-4o", "messages": [')
    page.get_by_test_id("stream").uncheck()
    page.get_by_test_id("system-prompt").fill("")
    assert "stream" not in editor_json(page)
    assert editor_json(page)["messages"] == [{"role": "user", "content": "hi"}]
    assert page.locator("#model-suggestions option").evaluate_all("o => o.map(x => x.value)")[0] == "gpt-4o-mini"


def test_a_large_body_stays_responsive_and_warns_before_the_4_mib_limit(page, stack):
    signed_in(page, stack)
    filler = "x" * 1000
    messages = [{"role": "user", "content": filler}] * 2300  # ~2.3 MB
    big = json.dumps({"model": "gpt-4o-mini", "messages": messages}, indent=2)
    started = time.monotonic()
    paste(page, big)
    expect(page.get_by_test_id("json-ok")).to_contain_text(f"{len(big.encode()):,} bytes")
    paste_s = time.monotonic() - started
    assert paste_s < 15, f"pasting {len(big):,} characters took {paste_s:.1f} s"

    page.keyboard.press("Control+End")
    started = time.monotonic()
    page.keyboard.type("xyz")
    expect(page.get_by_test_id("json-error")).to_be_visible()
    typing_s = time.monotonic() - started
    assert typing_s < 4, f"three keystrokes in a {len(big):,}-character body took {typing_s:.2f} s"
    for _ in range(3):
        page.keyboard.press("Backspace")
    expect(page.get_by_test_id("json-ok")).to_be_visible()

    near = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "y" * 3_900_000}]})
    paste(page, near)
    expect(page.get_by_test_id("json-ok")).to_contain_text("close to the 4.00 MiB limit")
    expect(page.get_by_test_id("send")).to_be_enabled()
    over = near.replace("y" * 1000, "y" * 300_000, 1)
    paste(page, over)
    expect(page.get_by_test_id("json-ok")).to_contain_text("over the 4.00 MiB limit")
    expect(page.get_by_test_id("send")).to_be_disabled()
    print(f"\npaste of {len(big):,} chars: {paste_s:.2f} s; 3 keystrokes: {typing_s:.2f} s")


# --- sending ---------------------------------------------------------------------


def test_sending_shows_status_time_journal_key_and_then_a_provider_error_as_sent(page, stack):
    signed_in(page, stack)
    load_function_call_template(page)

    envelope = send_and_wait(page, 200)
    assert envelope["metadata"]["key"]
    expect(page.get_by_test_id("response-key")).to_have_text(envelope["metadata"]["key"])
    expect(page.get_by_test_id("response-duration")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.get_by_test_id("response-overhead")).to_have_text(re.compile(r"^\d+\.\d ms$"))
    expect(page.get_by_test_id("response-model")).to_have_text("openai · gpt-4o-mini")
    expect(page.get_by_test_id("response-tokens")).to_have_text("12 in + 8 out = 20")
    assert envelope["data"]["status"] == 200
    assert envelope["data"]["body"]["choices"]

    stack.openai.enqueue(status=429, body=RATE_LIMITED)
    envelope = send_and_wait(page, 429)
    assert envelope["data"] == {"status": 429, "body": RATE_LIMITED}
    expect(page.get_by_test_id("response-key")).to_have_text(envelope["metadata"]["key"])
    expect(page.get_by_test_id("response-summary")).to_contain_text(RATE_LIMITED["error"]["message"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "passthrough-page-provider-error.png"), full_page=True)


def journal_record(stack, key: str) -> dict:
    import httpx

    answer = httpx.get(
        f"http://127.0.0.1:{stack.port}/v1/console/journal/{key}?client=-",
        headers={"Host": stack.api_domain, "Authorization": f"Bearer {stack.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_every_answer_shows_the_gateways_price_and_the_providers_own_cost_wins(page, stack):
    signed_in(page, stack)
    envelope = send_and_wait(page, 200)
    assert "cost" not in envelope["data"]["body"]["usage"]
    expect(page.get_by_test_id("response-cost")).to_have_text(re.compile(r"^\$\d+(\.\d+)?$"))
    record = journal_record(stack, envelope["metadata"]["key"])
    expect(page.get_by_test_id("response-cost")).to_have_text(f"${record['cost_usd']}")
    expect(page.get_by_test_id("response-cost")).to_have_attribute("title", "the gateway's price")
    priced = completion("priced")
    priced["usage"]["cost"] = 0.000123
    stack.openai.enqueue(body=priced)
    send_and_wait(page, 200)
    expect(page.get_by_test_id("response-cost")).to_have_text("$0.000123")


def test_the_reply_is_markdown_sanitized_and_copied_alone(page, stack):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    signed_in(page, stack)
    reply = "# Plan\n\n**Bold** and `code`:\n\n- one\n- two\n\n<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>"
    stack.openai.enqueue(body=completion(reply))
    send_and_wait(page, 200)
    markdown = page.get_by_test_id("reply-markdown")
    expect(markdown.locator("h1")).to_have_text("Plan")
    expect(markdown.locator("strong")).to_have_text("Bold")
    expect(markdown.locator("li")).to_have_count(2)
    expect(markdown.locator("script")).to_have_count(0)
    assert markdown.locator("img").evaluate_all("imgs => imgs.map(i => i.getAttribute('onerror'))") in ([], [None])
    assert page.evaluate("window.pwned") is None
    page.get_by_test_id("copy-reply").click()
    expect(page.get_by_test_id("copy-reply")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == reply


def test_an_html_error_body_is_shown_once(page, stack):
    signed_in(page, stack)
    html = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>upstream-unique-marker</h1></body></html>"
    stack.openai.enqueue(status=502, raw=html, headers={"Content-Type": "text/html"})
    send_and_wait(page, 502)
    expect(page.get_by_test_id("provider-error-message")).to_have_text("The provider answered with an HTML page: 502 Bad Gateway.")
    assert page.locator("body").inner_text().count("upstream-unique-marker") == 1


def test_a_double_ctrl_enter_sends_once(page, stack):
    signed_in(page, stack)
    stack.openai.enqueue(body=completion("slow"), delay=0.5)
    editor(page).click()
    page.keyboard.press("Control+Enter")
    page.keyboard.press("Control+Enter")
    wait_for_answer(page, 200)
    assert len([r for r in stack.openai.requests if r["path"].endswith("/chat/completions")]) == 1


def test_a_slow_provider_shows_a_running_clock_and_can_be_cancelled(page, stack):
    signed_in(page, stack)
    stack.openai.enqueue(body=completion("too late"), delay=5)
    page.get_by_test_id("send").click()
    clock = page.get_by_test_id("elapsed")
    expect(clock).to_have_text(re.compile(r"^[1-9]\d*\.\d s$"), timeout=4000)
    first = clock.inner_text()
    expect(clock).not_to_have_text(first)
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("response-output")).to_contain_text("Cancelled before the provider answered.")
    expect(page.get_by_test_id("cancel")).to_have_count(0)
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_while_a_request_runs_the_keyboard_is_on_cancel_after_send_and_esc_cancels(page, stack):
    signed_in(page, stack)
    stack.openai.enqueue(body=completion("too late"), delay=5)
    page.get_by_test_id("send").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_test_id("send")).to_be_focused()  # Send comes before Cancel
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("response-output")).to_contain_text("Cancelled before the provider answered.")
    expect(page.get_by_test_id("response-output")).to_be_focused()


def test_a_streamed_answer_is_assembled_token_by_token(page, stack):
    """The stream comes from `page.route` (the gateway's streaming is not merged yet), with the contract's shape."""
    page.route(
        "**/v1/passthrough/**",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream", "X-Smarter-Journal-Key": "j-stream", "X-Smarter-Overhead-Duration-Ms": "3.25"},
            body=STREAM,
        ),
    )
    signed_in(page, stack)
    page.get_by_test_id("stream").check()
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("response-status")).to_have_text("200 OK")
    expect(page.get_by_test_id("reply-markdown")).to_have_text("Streaming works, token by token.")
    expect(page.get_by_test_id("reply-markdown").locator("strong")).to_have_text("token")
    expect(page.get_by_test_id("response-model")).to_have_text("openai · gpt-4o-mini-2024-07-18 · streamed")
    expect(page.get_by_test_id("response-key")).to_have_text("j-stream")
    expect(page.get_by_test_id("response-overhead")).to_have_text("3.3 ms")
    expect(page.get_by_test_id("response-tokens")).to_have_text("9 in + 6 out = 15")
    expect(page.get_by_test_id("response-body")).to_contain_text("data: [DONE]")


SLOW_STREAM = """
(() => {
  // Stands in for the gateway's streaming (not merged yet): a streamed passthrough answers
  // one chat.completion.chunk event every 400 ms, and errors like a browser's fetch on abort.
  const realFetch = window.fetch
  window.fetch = (input, init = {}) => {
    if (!String(input).includes('/v1/passthrough/') || !String(init.body).includes('"stream": true')) return realFetch(input, init)
    const words = ['One ', 'word ', 'at ', 'a ', 'time, ', 'slowly, ', 'until ', 'cancelled.']
    const encoder = new TextEncoder()
    let timer
    const body = new ReadableStream({
      start(controller) {
        let i = 0
        const next = () => {
          const delta = {content: words[i]}
          controller.enqueue(encoder.encode('data: ' + JSON.stringify({object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{index: 0, delta}]}) + '\\n\\n'))
          i += 1
          if (i < words.length) timer = setTimeout(next, 400)
          else { controller.enqueue(encoder.encode('data: [DONE]\\n\\n')); controller.close() }
        }
        next()
        init.signal?.addEventListener('abort', () => { clearTimeout(timer); controller.error(new DOMException('aborted', 'AbortError')) })
      },
    })
    return Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'text/event-stream', 'X-Smarter-Journal-Key': 'j-slow'}}))
  }
})()
"""


BIG_STREAM = """
(() => {
  // A 355 KB answer in 3,550 chat.completion.chunk events of 100 characters, 25 events every 10 ms
  // (about 1.4 s of streaming), as a fast provider sends a long answer. Long tasks are recorded.
  window.__longTasks = []
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]) })
    .observe({ type: 'longtask', buffered: true })
  const realFetch = window.fetch
  window.fetch = (input, init = {}) => {
    if (!String(input).includes('/v1/passthrough/') || !String(init.body).includes('"stream": true')) return realFetch(input, init)
    const encoder = new TextEncoder()
    const piece = i => ('Line ' + i + ' of a long answer, with **some** Markdown and `code`. ').padEnd(99, '.') + '\\n'
    const body = new ReadableStream({
      start(controller) {
        let i = 0
        const next = () => {
          let text = ''
          for (let k = 0; k < 25 && i < 3550; k++, i++) {
            text += 'data: ' + JSON.stringify({object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{index: 0, delta: {content: piece(i)}}]}) + '\\n\\n'
          }
          controller.enqueue(encoder.encode(text))
          if (i < 3550) setTimeout(next, 10)
          else { controller.enqueue(encoder.encode('data: [DONE]\\n\\n')); controller.close(); window.__streamEnded = performance.now() }
        }
        next()
      },
    })
    return Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'text/event-stream', 'X-Smarter-Journal-Key': 'j-big'}}))
  }
})()
"""


def test_a_355_kb_streamed_answer_does_not_freeze_the_page(page, stack):
    """Long tasks (over 50 ms) measured by Chromium while the answer streams and after it ends."""
    page.add_init_script(BIG_STREAM)
    page.reload()
    signed_in(page, stack)
    page.get_by_test_id("stream").check()
    page.get_by_test_id("send").click()
    started = time.monotonic()
    expect(page.get_by_test_id("response-status")).to_have_text(re.compile(r"^200\b"), timeout=int(os.environ.get("BIG_STREAM_WAIT_MS", 4 * WAIT_MS)))
    print("355 KB stream shown after", round(time.monotonic() - started, 1), "s")
    page.wait_for_timeout(1500)
    ended, tasks = page.evaluate("[window.__streamEnded, window.__longTasks]")
    during = [d for start, d in tasks if start < ended]
    after = [d for start, d in tasks if start >= ended]
    figures = {"max_during_ms": max(during, default=0), "max_after_ms": max(after, default=0), "total_after_ms": sum(after)}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "stream-355kb-long-tasks.json").write_text(json.dumps({**figures, "tasks": tasks, "ended": ended}, indent=1))
    print("355 KB stream long tasks:", figures)
    # All of it in the page (text_content: blocks off screen skip layout, so innerText leaves them out), as text until asked for Markdown.
    assert len(page.get_by_test_id("reply-markdown").text_content()) > 350_000
    expect(page.get_by_test_id("render-markdown")).to_be_visible()
    # Before the fix, on this 2-core machine: 110 s to show, long tasks up to 1,113 ms while streaming and 1,487 ms after.
    assert figures["max_during_ms"] < 200, figures
    assert figures["max_after_ms"] < 250, figures


def test_a_slow_stream_grows_on_screen_and_cancel_keeps_what_arrived(page, stack):
    """The stream is produced in the page by an init script standing in for fetch (the gateway's streaming is not
    merged yet, and `page.route` can only answer all at once): the page's own reader sees it arrive chunk by chunk."""
    page.add_init_script(SLOW_STREAM)
    page.reload()
    signed_in(page, stack)
    page.get_by_test_id("stream").check()
    page.get_by_test_id("send").click()
    live = page.get_by_test_id("stream-live")
    expect(live).to_contain_text("One word")
    expect(page.get_by_test_id("elapsed")).to_be_visible()
    expect(live).to_contain_text("One word at a")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("response-summary")).to_contain_text("Cancelled")
    kept = page.get_by_test_id("reply-markdown").inner_text()
    assert kept.startswith("One word at a") and "cancelled." not in kept
    expect(page.get_by_test_id("response-key")).to_have_text("j-slow")


def test_a_stream_through_the_real_streaming_passthrough_is_shown_as_a_reply(page, stack):
    """No stand-in: the local gateway streams the scripted provider's events to the page."""
    stack.openai.enqueue(raw=STREAM.encode(), headers={"Content-Type": "text/event-stream"})
    signed_in(page, stack)
    page.get_by_test_id("stream").check()
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("response-status")).to_have_text(re.compile(r"^200\b"), timeout=WAIT_MS)
    expect(page.get_by_test_id("reply-markdown")).to_have_text("Streaming works, token by token.", timeout=WAIT_MS)
    assert stack.openai.requests[-1]["json"]["stream"] is True


def test_a_stream_without_stream_options_shows_its_tokens_and_price(page, stack):
    """The caller did not ask for usage, so no usage event reaches the page; the gateway counted it anyway."""
    stack.openai.enqueue(raw=STREAM.encode(), headers={"Content-Type": "text/event-stream"})
    signed_in(page, stack)
    page.get_by_test_id("stream").check()
    assert "stream_options" not in editor_json(page)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("reply-markdown")).to_have_text("Streaming works, token by token.", timeout=WAIT_MS)
    expect(page.get_by_test_id("response-tokens")).to_have_text("9 in + 6 out = 15", timeout=WAIT_MS)
    expect(page.get_by_test_id("response-cost")).to_have_text(re.compile(r"^\$\d"))


def test_multi_turn_appends_the_reply_and_the_next_message(page, stack):
    signed_in(page, stack)
    set_editor(page, json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "first"}]}))
    stack.openai.enqueue(body=completion("first answer"))
    send_and_wait(page, 200)
    page.get_by_test_id("continue-input").fill("second")
    page.get_by_test_id("continue").click()
    assert editor_json(page)["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second"},
    ]
    send_and_wait(page, 200)
    expect(page.get_by_test_id("reply-markdown")).to_have_text("You said: second")
    assert [m["content"] for m in stack.openai.requests[-1]["json"]["messages"]] == ["first", "first answer", "second"]


def test_multi_turn_after_a_tool_call_appends_the_tool_result(page, stack):
    signed_in(page, stack)
    load_function_call_template(page)
    stack.openai.enqueue(body=tool_calls(("get_current_weather", {"location": "Paris"})))
    send_and_wait(page, 200)
    page.get_by_test_id("tool-result-0").fill('{"temperature": 21}')
    page.get_by_test_id("continue").click()
    messages = editor_json(page)["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "get_current_weather"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_0_get_current_weather", "content": '{"temperature": 21}'}
    send_and_wait(page, 200)


# --- state, history, code ----------------------------------------------------------


def test_provider_body_and_answer_survive_a_reload_and_a_sign_out(page, stack):
    signed_in(page, stack)
    choose(page, "offline")
    body = json.dumps({"model": "offline-echo", "messages": [{"role": "user", "content": "keep me"}]})
    set_editor(page, body)
    send_and_wait(page, 200)
    key = page.get_by_test_id("response-key").inner_text()

    page.reload()
    expect(page.get_by_test_id("account")).to_be_visible()
    expect(page.get_by_test_id("provider-select")).to_have_value("offline")
    expect(page.get_by_test_id("response-key")).to_have_text(key)
    assert editor_text(page) == body

    page.get_by_test_id("sign-out").click()
    signed_in(page, stack)
    expect(page.get_by_test_id("provider-select")).to_have_value("offline")
    assert editor_text(page) == body


def test_the_history_restores_an_earlier_request(page, stack):
    signed_in(page, stack)
    first = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one"}]})
    set_editor(page, first)
    send_and_wait(page, 200)
    set_editor(page, first.replace("one", "two"))
    send_and_wait(page, 200)
    page.get_by_text("History (2)").click()
    items = page.get_by_test_id("history-item")
    expect(items).to_have_count(2)
    # Told apart by what they asked, with time, provider, model, duration and tokens.
    expect(items.nth(0).get_by_test_id("history-preview")).to_have_text("two")
    expect(items.nth(1).get_by_test_id("history-preview")).to_have_text("one")
    expect(items.nth(1)).to_contain_text(re.compile(r"openai · gpt-4o-mini · \d+ ms · 20 tokens"))
    stack.openai.enqueue(body=completion("three"))
    items.nth(1).get_by_test_id("history-restore").click()
    assert editor_text(page) == first
    expect(page.get_by_test_id("reply-markdown")).to_contain_text("one")  # its answer, not the last one
    page.reload()
    page.get_by_text("History (2)").click()
    expect(page.get_by_test_id("history-item")).to_have_count(2)


def test_a_reload_mid_stream_keeps_the_request_in_history(page, stack):
    signed_in(page, stack)
    stack.openai.enqueue(body=completion("too late"), delay=3)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "reloaded while waiting"}]})
    set_editor(page, body)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("elapsed")).to_be_visible()
    page.reload()
    # The local stack serves one request at a time: the page loads once the slow call is over.
    expect(page.get_by_test_id("json-ok")).to_be_visible(timeout=2 * WAIT_MS)
    page.get_by_text("History (1)").click()
    item = page.get_by_test_id("history-item")
    expect(item.get_by_test_id("history-preview")).to_have_text("reloaded while waiting")
    expect(item.get_by_test_id("history-status")).to_have_text("no answer")
    item.get_by_test_id("history-restore").click()
    assert editor_json(page) == json.loads(body)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_streamed_python_and_javascript_snippets_print_the_text_as_it_streams(page, stack, tmp_path):
    """Run against the real streaming passthrough of the local stack (offline provider); JS as .mjs and as CommonJS .js on Node."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    signed_in(page, stack)
    choose(page, "offline")
    page.get_by_test_id("stream").check()
    expect(page.get_by_test_id("stream")).to_be_checked()
    env = {**os.environ, "SMARTER_API_KEY": stack.api_key}
    runs = {"python": [[sys.executable, "-c"]]}
    if shutil.which("node"):
        runs["javascript"] = [["node", "request.mjs"], ["node", "request.js"]]
    elif needs.in_ci():
        pytest.fail("node is missing: the JavaScript snippet cannot be run (CI is set, so this fails)", pytrace=False)
    for language, commands in runs.items():
        page.get_by_test_id(f"copy-{language}").click()
        code = page.evaluate("navigator.clipboard.readText()")
        for command in commands:
            if language == "javascript":
                write(tmp_path / command[1], code)
                argv = [command[0], str(tmp_path / command[1])]
            else:
                argv = [*command, code]
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{argv[:2]}: {done.stderr}"
            assert done.stdout.startswith("(offline) You said:"), f"{argv[:2]}: {done.stdout!r}"
            assert "data:" not in done.stdout and "chat.completion.chunk" not in done.stdout


def test_copy_as_curl_python_and_javascript_run_as_copied(page, stack, tmp_path):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    signed_in(page, stack)
    choose(page, "offline")
    env = {**os.environ, "SMARTER_API_KEY": stack.api_key}
    runners = {
        "curl": lambda code: ["bash", "-c", code],
        "python": lambda code: [sys.executable, "-c", code],
        "javascript": lambda code: ["node", str(write(tmp_path / "request.mjs", code))],
    }
    for language, command in runners.items():
        if language == "javascript" and not shutil.which("node"):
            if needs.in_ci():
                pytest.fail("node is missing: the JavaScript snippet cannot be run (CI is set, so this fails)", pytrace=False)
            continue
        page.get_by_test_id(f"copy-{language}").click()
        expect(page.get_by_test_id(f"copy-{language}")).to_have_text("Copied")
        code = page.evaluate("navigator.clipboard.readText()")
        assert stack.api_key not in code
        assert "SMARTER_API_KEY" in code
        done = subprocess.run(command(code), env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{language}: {done.stderr}"
        assert "offline" in done.stdout or "200" in done.stdout, f"{language}: {done.stdout}"


# --- layout and accessibility ----------------------------------------------------


def test_at_375_px_the_header_fits_and_the_answer_is_scrolled_into_view(phone, stack):
    signed_in(phone, stack)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    box = phone.get_by_test_id("sign-out").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375
    phone.get_by_test_id("send").click()
    wait_for_answer(phone, 200)
    phone.wait_for_timeout(600)  # the smooth scroll
    top = phone.get_by_test_id("response-output").evaluate("el => el.getBoundingClientRect().top")
    assert 0 <= top < 740
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "passthrough-page-375px.png"))


GUTTERS = """() => {
    const numbers = Array.from(document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')).filter(e => e.style.visibility !== 'hidden')
    const lines = Array.from(document.querySelectorAll('.cm-line'))
    return numbers.slice(0, 5).map((n, i) => [n.textContent, Math.round(n.getBoundingClientRect().top - lines[i].getBoundingClientRect().top)])
}"""


def test_at_375_px_the_line_numbers_sit_beside_their_lines_before_the_editor_was_scrolled_to(phone, stack):
    """The editor starts below the fold: CodeMirror has not measured its lines yet."""
    signed_in(phone, stack)
    assert phone.get_by_test_id("editor").bounding_box()["y"] > 740
    assert phone.evaluate(GUTTERS) == [[str(n), 0] for n in range(1, 6)]


def test_at_375_px_the_reply_itself_is_on_screen_after_send(phone, stack):
    signed_in(phone, stack)
    phone.get_by_test_id("send").click()
    wait_for_answer(phone, 200)
    phone.wait_for_timeout(600)  # the smooth scroll
    reply = phone.get_by_test_id("reply-markdown").bounding_box()
    assert reply and 0 <= reply["y"] and reply["y"] + 20 <= 740, reply


def test_at_1280_by_800_send_and_the_running_clock_stay_on_screen(browser, stack):
    page = open_page(browser, stack, viewport={"width": 1280, "height": 800})
    try:
        signed_in(page, stack)
        send = page.get_by_test_id("send").bounding_box()
        assert send["y"] + send["height"] <= 800, send  # without scrolling
        stack.openai.enqueue(body=completion("late"), delay=3)
        page.get_by_test_id("send").click()
        page.mouse.wheel(0, 2000)  # the user scrolls down the request panel
        page.wait_for_timeout(300)
        clocks = [page.get_by_test_id("elapsed"), page.get_by_test_id("send-elapsed")]
        expect(clocks[1]).to_have_text(re.compile(r"^\d+\.\d s$"))
        visible = [c.bounding_box() for c in clocks]
        assert any(b and 0 <= b["y"] and b["y"] + b["height"] <= 800 for b in visible), visible
        wait_for_answer(page, 200)
    finally:
        page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_at_375_px_signed_in_finds_no_serious_or_critical_violations(browser, stack, scheme):
    page = open_page(browser, stack, color_scheme=scheme, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        signed_in(page, stack)
        assert axe_violations(page) == []
        send_and_wait(page, 200)
        assert axe_violations(page) == []
    finally:
        page.context.close()


def test_keyboard_only_sign_in_send_and_read_the_answer(page, stack):
    expect(page.get_by_test_id("api-key-input")).to_be_focused()
    page.keyboard.type(stack.api_key)
    page.keyboard.press("Enter")
    expect(editor(page)).to_be_focused()
    expect(page.get_by_test_id("json-ok")).to_be_visible()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "send":
            break
    expect(page.get_by_test_id("send")).to_be_focused()
    page.keyboard.press("Enter")
    wait_for_answer(page, 200)
    expect(page.get_by_test_id("response-output")).to_be_focused()
    expect(page.get_by_test_id("announcer")).to_contain_text("Answer: 200")
    expect(page.get_by_test_id("announcer")).to_contain_text("You said:")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "response-body":
            break
    expect(page.get_by_test_id("response-body")).to_be_focused()
    ring = page.get_by_test_id("send").evaluate(
        "el => { el.focus(); const s = getComputedStyle(el); return [s.outlineStyle, parseFloat(s.outlineWidth)] }"
    )
    assert ring[0] == "solid" and ring[1] >= 2


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violations(browser, stack, scheme):
    page = open_page(browser, stack, color_scheme=scheme)
    try:
        assert axe_violations(page) == []  # the sign-in screen
        signed_in(page, stack)
        stack.openai.enqueue(body=completion("A **Markdown** answer with a [link](https://example.com)."))
        send_and_wait(page, 200)
        page.get_by_text("History (1)").click()
        assert page.get_by_role("heading", level=1).count() == 1
        assert axe_violations(page) == []
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(15, 19, 25)") == (scheme == "dark")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"passthrough-page-{scheme}.png"))
    finally:
        page.context.close()


def test_screenshot_of_the_signed_in_page_with_an_answer(page, stack):
    """The picture in the README. Written to docs/images/ when missing or with SMARTER_UPDATE_SCREENSHOTS=1."""
    signed_in(page, stack)
    send_and_wait(page, 200)  # warm: the stack's first provider call imports the openai SDK
    stack.openai.enqueue(
        body=completion(
            "Serverless means **you write the function, the cloud runs it**:\n\n"
            "- no servers to patch\n- pay per request\n- scales to zero\n\n"
            "On AWS that is `Lambda`."
        )
    )
    page.get_by_test_id("system-prompt").fill("You are a concise assistant.")
    send_and_wait(page, 200)
    page.mouse.move(0, 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "passthrough-page.png"), full_page=True)
    if not SCREENSHOT.exists() or os.environ.get("SMARTER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "passthrough-page.png", SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000
