"""The console, as a new user of `make run` meets it: the console API over HTTP
on the local stack, and the page's console in Chromium (Playwright), with
every request going to the real stack (no routed answers here).

Uses the `stack` fixture (tests/e2e/conftest.py) and the browser helpers of
test_page.py (Debian's Chromium, axe-core from frontend/node_modules)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

import httpx
import pytest
from test_page import ARTIFACTS, WAIT_MS, axe_violations, browser, expect, open_page, sign_in  # noqa: F401 (browser is a fixture)

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def client_post(stack, content: str, key: str) -> httpx.Response:
    """A prompt to the demo client at its own host (Python does not resolve *.localhost: connect to 127.0.0.1, send the Host)."""
    headers = {"Host": stack.client_host, "Content-Type": "application/json", "Authorization": f"Token {key}"}
    return httpx.post(f"{stack.base_url}/", headers=headers, content=json.dumps({"messages": [{"role": "user", "content": content}]}), timeout=30)


def console_get(stack, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or stack.api_key}"}
    return httpx.get(f"http://localhost:{stack.port}/v1/console{path}", headers=headers, timeout=30)


def requests_counted(stack) -> int:
    return console_get(stack, "/usage").json()["data"]["total"]["requests"]


def keep_screenshot(page, name: str) -> None:
    """Into test-artifacts/, and docs/images/ when missing or with SMARTER_UPDATE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    target = IMAGES / name
    if not target.exists() or os.environ.get("SMARTER_UPDATE_SCREENSHOTS") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.fixture
def console(browser, stack):  # noqa: F811 (the fixture imported above)
    page = open_page(browser, stack, viewport={"width": 1280, "height": 800})
    sign_in(page, stack.api_key)
    expect(page.get_by_test_id("account")).to_be_visible(timeout=WAIT_MS)
    page.get_by_test_id("nav-console").click()
    yield page
    page.context.close()


# --- the API over HTTP -------------------------------------------------------------------


def test_the_console_api_answers_on_the_platform_host_of_the_local_stack(stack):
    clients = console_get(stack, "/clients")
    assert clients.status_code == 200
    assert "customer-support" in [c["name"] for c in clients.json()["data"]["clients"]]
    assert clients.headers["X-Smarter-Journal-Key"]
    assert console_get(stack, "/clients", key="smk_000000000000_nope").status_code == 401
    on_client_host = httpx.get(f"{stack.base_url}/v1/console/clients", headers={"Host": stack.client_host, "Authorization": f"Token {stack.api_key}"})
    assert on_client_host.status_code == 404


def client_requests_counted(stack) -> int:
    """The demo client's requests only: a passthrough of an earlier test (a slow one cancelled or cut by a reload)
    may still be counted meanwhile, on the platform host's '-' row."""
    rows = console_get(stack, "/usage?group=client").json()["data"]["rows"]
    return sum(r["requests"] for r in rows if r["client"] == stack.client)


def test_requests_show_in_the_usage_a_few_seconds_later_over_http(stack):
    before = client_requests_counted(stack)
    assert client_post(stack, "What are your support hours?", stack.api_key).status_code == 200
    for _ in range(50):
        if client_requests_counted(stack) > before:
            break
        time.sleep(0.2)
    assert client_requests_counted(stack) == before + 1


def test_console_slash_redirects_to_the_page_s_console(stack):
    response = httpx.get(f"http://localhost:{stack.port}/console/", follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/passthrough/#console"


# --- the page, in Chromium -------------------------------------------------------------------


def test_the_chart_shows_the_requests_just_made(console, stack):
    before = requests_counted(stack)
    for question in ("What are your support hours?", "How do I get a refund?", "Hello"):
        assert client_post(stack, question, stack.api_key).status_code == 200
    chart = console.get_by_test_id("usage-chart")
    expect(chart).to_be_visible()
    # The counters trail the answers by a second or two; the overview refreshes every 3 s.
    console.wait_for_function(
        "n => Number(document.querySelector('[data-testid=usage-chart]')?.dataset.total) >= n", arg=before + 3, timeout=WAIT_MS
    )
    assert console.locator("[data-testid=usage-chart] .recharts-bar-rectangle").count() >= 1
    console.get_by_test_id("usage-split").select_option("key")
    expect(console.locator("[data-testid=usage-chart] .recharts-legend-item-text")).to_contain_text(["local-demo"])
    console.get_by_test_id("usage-metric").select_option("cost_usd")
    expect(console.get_by_test_id("usage-totals")).to_contain_text("$")
    keep_screenshot(console, "console-overview.png")


def test_a_journal_record_opens_with_request_answer_durations_and_cost(console, stack):
    assert client_post(stack, "What are your support hours?", stack.api_key).status_code == 200
    console.get_by_test_id("console-tab-journal").click()
    console.get_by_test_id("journal-client").select_option("customer-support")
    listing = console.get_by_test_id("journal-list")
    expect(listing).to_be_visible()
    console.get_by_test_id("journal-item").first.get_by_role("button").click()
    record = console.get_by_test_id("journal-record")
    expect(record).to_contain_text("total")
    expect(console.get_by_test_id("record-durations")).to_contain_text("ms")
    expect(console.get_by_test_id("record-answer")).not_to_be_empty()
    keep_screenshot(console, "console-journal.png")
    console.get_by_test_id("replay").click()
    expect(console.get_by_test_id("nav-playground")).to_have_attribute("aria-current", "page")
    expect(console.get_by_test_id("provider-select")).to_have_value("offline")
    expect(console.get_by_test_id("json-ok")).to_be_visible()


def test_a_created_key_works_until_it_is_revoked(console, stack):
    console.get_by_test_id("console-tab-keys").click()
    name = f"e2e-{secrets.token_hex(3)}"
    console.get_by_test_id("new-key-name").fill(name)
    console.get_by_test_id("create-key").click()
    secret = console.get_by_test_id("new-key-value").inner_text().strip()
    assert secret.startswith("smk_")
    assert client_post(stack, "hello with the new key", secret).status_code == 200
    row = console.get_by_test_id("key-row").filter(has_text=name)
    expect(row.get_by_test_id("key-state")).to_have_text("active")
    row.get_by_test_id("revoke-key").click()
    row.get_by_test_id("confirm-revoke").click()
    expect(row.get_by_test_id("key-state")).to_have_text("revoked")
    revoked = client_post(stack, "hello again", secret)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]
    keep_screenshot(console, "console-keys.png")


def test_a_manifest_with_an_error_says_where_and_is_not_applied(console, stack):
    console.get_by_test_id("console-tab-manifests").click()
    editor = console.get_by_test_id("manifest-editor")
    editor.fill("apiVersion: smarter.sh/v1\nkind: LLMClient\nmetadata:\n  name: e2e-sales\nspec:\n  config:\n    provider: opnai\n")
    console.get_by_test_id("manifest-validate").click()
    error = console.get_by_test_id("manifest-error")
    expect(error).to_contain_text("spec.config.provider")
    expect(console.get_by_test_id("manifest-apply")).to_be_disabled()
    editor.fill("apiVersion: smarter.sh/v1\nkind: LLMClient\nmetadata:\n  name: e2e-sales\nspec:\n  config:\n    provider: offline\n    defaultModel: offline-echo\n")
    console.get_by_test_id("manifest-validate").click()
    expect(console.get_by_test_id("manifest-changes")).to_contain_text("would be created")
    console.get_by_test_id("manifest-apply").click()
    expect(console.get_by_test_id("manifest-changes")).to_contain_text("applied")
    keep_screenshot(console, "console-manifests.png")
    console.get_by_test_id("console-tab-clients").click()
    card = console.get_by_test_id("client-card").filter(has_text="e2e-sales")
    expect(card).to_contain_text("e2e-sales.3141-5926-5359.api.localhost")
    card.get_by_test_id("open-in-playground").click()
    expect(console.get_by_test_id("provider-select")).to_have_value("offline")
    expect(console.get_by_test_id("model-input")).to_have_value("offline-echo")


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("dark", 375), ("light", 375)])
def test_axe_finds_no_serious_or_critical_violations_in_the_console(browser, stack, scheme, width):  # noqa: F811
    page = open_page(browser, stack, color_scheme=scheme, viewport={"width": width, "height": 800})
    try:
        sign_in(page, stack.api_key)
        expect(page.get_by_test_id("account")).to_be_visible()
        page.get_by_test_id("nav-console").click()
        expect(page.get_by_test_id("usage-chart")).to_be_visible()
        assert axe_violations(page) == [], "overview"
        for tab, ready in (("clients", "client-card"), ("keys", "key-table"), ("journal", "journal-list"), ("manifests", "manifest-editor")):
            page.get_by_test_id(f"console-tab-{tab}").click()
            expect(page.get_by_test_id(ready).first).to_be_visible()
            assert axe_violations(page) == [], tab
        page.get_by_test_id("console-tab-journal").click()
        page.get_by_test_id("journal-item").first.get_by_role("button").click()
        expect(page.get_by_test_id("journal-record")).to_be_visible()
        assert axe_violations(page) == [], "journal record"
        if width == 375:
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the console is {overflow} px wider than the phone"
        page.get_by_test_id("console-tab-overview").click()
        expect(page.get_by_test_id("usage-chart")).to_be_visible()
        keep_screenshot(page, f"console-overview-{scheme}-{width}.png")
    finally:
        page.context.close()
