"""The api plugin: real HTTP to a server on 127.0.0.1, end to end through the
prompt API, and the SSRF, size and time limits. Every test here runs under
`loopback_only`: a connection attempt off loopback fails the test, so a
refusal is proven to happen before any packet is sent."""

from __future__ import annotations

import json
import time

import pytest

from plugin_fixtures import (
    ACCOUNT,
    api_connection,
    api_plugin,
    call_kind,
    endless,
    loopback_only,  # noqa: F401 (fixture)
    production_egress,  # noqa: F401 (fixture)
    redirect,
    send,
    silent,
    upstream,  # noqa: F401 (fixture)
)
from support import journal_records, make_tenant, prompt

from smarter.tenancy import egress
from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.usefixtures("loopback_only")


def _kind():
    from smarter_plugins.api import ApiPlugin

    return ApiPlugin()


def _call(plugin: dict, connection: dict, arguments: dict, **kwargs):
    return call_kind(_kind(), plugin, connection, arguments, **kwargs)


def _refusal(plugin: dict, connection: dict, arguments: dict | None = None, **kwargs) -> str:
    from smarter.llm.plugins import PluginCallError

    with pytest.raises(PluginCallError) as caught:
        _call(plugin, connection, arguments or {}, **kwargs)
    return str(caught.value)


def _stored(connection: dict) -> dict:
    """A connection as if stored before today's rules (skips apply-time checks)."""
    return {"kind": "ApiConnection", "spec": {"connection": {"authMethod": "none", **connection["spec"]["connection"]}}}


def _call_stored(connection: dict, arguments: dict | None = None) -> str:
    """Run the plugin against a connection stored as is: the call-time checks alone."""
    from smarter.llm.plugins import PluginCallError, PluginContext

    kind = _kind()
    plugin = api_plugin()
    plugin["metadata"].pop("account")
    stored = {**plugin, "spec": kind.validate(plugin)}
    conn = _stored(connection)
    with pytest.raises(PluginCallError) as caught:
        kind.call(stored, arguments or {}, PluginContext(ACCOUNT, lambda name: conn, lambda name: "", 2.0, ()))
    return str(caught.value)


def _tenant_with(*docs: dict, plugins: list[dict]):
    from smarter_admin import manifests

    manifests.apply_documents([{"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}, *docs])
    return make_tenant(ACCOUNT, plugins=plugins)


def _put_secret(name: str, value: str, account: str = ACCOUNT) -> None:
    from smarter.store import aws

    aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{account}/{name}", SecretString=value)


# --- end to end ----------------------------------------------------------------------


def test_api_plugin_end_to_end_through_the_prompt_api(aws, openai_server, upstream):
    upstream.json("/v1/courses", [{"code": "CS101", "name": "Intro to Python", "cost": 300}])
    _put_secret("catalogue-key", "tok-123")
    conn = api_connection(base_url=f"{upstream.base_url}/v1", allowHosts=["127.0.0.1"], authMethod="bearer", secret="catalogue-key")
    tenant = _tenant_with(conn, plugins=[api_plugin()])
    openai_server.enqueue(body=tool_calls(("course_catalogue", {"max_cost": 500, "keyword": "Python"})))
    openai_server.enqueue(body=completion("CS101 Intro to Python costs 300."))

    result = prompt(tenant, "Which Python courses cost under 500?")

    assert result.status == 200
    call = upstream.seen[-1]
    assert call.method == "GET"
    assert call.path == "/v1/courses?max_cost=500&keyword=Python"
    assert call.headers["authorization"] == "Bearer tok-123"
    assert call.headers["host"] == f"127.0.0.1:{upstream.port}"
    tool_message = openai_server.requests[-1]["json"]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert json.loads(tool_message["content"]) == {"status": 200, "body": [{"code": "CS101", "name": "Intro to Python", "cost": 300}]}
    entry = journal_records(tenant.account, tenant.client)[0]["tool_calls"][0]
    assert entry["plugin"] == "course_catalogue"
    assert entry["kind"] == "api"
    assert entry["outcome"] == "ok"
    assert entry["arguments"] == {"max_cost": 500, "keyword": "Python"}
    assert entry["result_bytes"] == len(tool_message["content"].encode())
    assert entry["duration_ms"] > 0


def test_post_fills_path_and_body_templates_and_sends_the_rest_in_the_json_body(upstream):
    upstream.json("/enrol/CS%2F101", {"ok": True}, status=201)
    plugin = api_plugin(
        endpoint="/enrol/{course}",
        method="post",
        body={"student": "{student}", "source": "smarter"},
        parameters=[
            {"name": "course", "type": "string", "required": True},
            {"name": "student", "type": "integer", "required": True},
            {"name": "note", "type": "string"},
        ],
        testValues=None,
    )
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], headers=[{"name": "X-Tenant", "value": "acme"}])
    result = _call(plugin, conn, {"course": "CS/101", "student": "42", "note": "hi"})
    assert result == {"status": 201, "body": {"ok": True}}
    seen = upstream.seen[-1]
    assert seen.method == "POST"
    assert seen.path == "/enrol/CS%2F101"  # a value never adds path segments
    assert json.loads(seen.body) == {"student": 42, "source": "smarter", "note": "hi"}
    assert seen.headers["x-tenant"] == "acme"
    assert seen.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("method", "secret", "header", "expected"),
    [
        ("token", "abc", "authorization", "Token abc"),
        ("api_key", "abc", "x-api-key", "abc"),
        ("basic", '{"username": "ada", "password": "pw"}', "authorization", "Basic YWRhOnB3"),
    ],
)
def test_credentials_come_from_the_connection_secret(upstream, method, secret, header, expected):
    upstream.json("/courses", [])
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], authMethod=method, secret="key")
    _call(api_plugin(), conn, {}, secrets={"key": secret})
    assert upstream.seen[-1].headers[header] == expected


def test_upstream_error_status_becomes_an_error_result(upstream):
    upstream.routes["/courses"] = lambda h: send(h, 503, b'{"error": "maintenance"}')
    message = _refusal(api_plugin(), api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]))
    assert "HTTP 503" in message and "maintenance" in message


def test_list_answers_are_cut_to_the_plugin_limit(upstream):
    upstream.json("/courses", list(range(50)))
    result = _call(api_plugin(limit=5), api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]), {})
    assert result["body"] == [0, 1, 2, 3, 4]
    assert result["truncated"] is True


def test_an_account_reads_only_its_own_secrets(aws, upstream):
    from smarter.llm.chat import plugin_context
    from smarter.llm.plugins import PluginCallError

    _put_secret("shared-name", "theirs", account="2718-2818-2845")
    with pytest.raises(PluginCallError, match="does not exist for this account"):
        plugin_context(ACCOUNT).secret("shared-name")
    with pytest.raises(PluginCallError):
        plugin_context(ACCOUNT).secret("../2718-2818-2845/shared-name")


# --- SSRF: refused before any connection ------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "192.168.1.10", "[::1]", "100.64.0.1"])
def test_connection_to_a_private_address_is_refused_when_applied(address, production_egress):
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError) as caught:
        _kind().validate_connection(api_connection(base_url=f"http://{address}/"))
    assert caught.value.path == "spec.connection.baseUrl"
    assert "operator" in caught.value.reason or "metadata" in caught.value.reason


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_private_addresses_are_refused_at_call_time_before_connecting(address, loopback_only, production_egress):
    # A connection stored before the rule (or edited in the table) is still refused when it runs.
    from smarter.llm.plugins import PluginCallError, PluginContext

    kind = _kind()
    plugin = api_plugin()
    plugin["metadata"].pop("account")
    stored = {**plugin, "spec": kind.validate(plugin)}
    conn = {"kind": "ApiConnection", "spec": {"connection": {"baseUrl": f"http://{address}:8080/", "authMethod": "none"}}}
    context = PluginContext(ACCOUNT, lambda name: conn, lambda name: "", 2.0, ())
    with pytest.raises(PluginCallError) as caught:
        kind.call(stored, {}, context)
    assert str(caught.value).startswith("refused:")
    assert address in str(caught.value)
    assert loopback_only == []


def test_metadata_address_is_refused_even_when_allow_listed():
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError) as caught:
        _kind().validate_connection(api_connection(base_url="http://169.254.169.254/", allowHosts=["169.254.169.254"]))
    assert caught.value.path.startswith("spec.connection.allowHosts")
    assert "metadata" in caught.value.reason


def test_a_name_that_resolves_to_loopback_is_refused_unless_the_operator_allows_it(upstream, monkeypatch):
    from smarter import config

    upstream.json("/courses", [])
    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "")
    config.settings.cache_clear()
    # The tenant's allowHosts cannot open it: it only narrows.
    message = _call_stored(api_connection(base_url=f"http://localhost:{upstream.port}", allowHosts=["localhost"]))
    assert "localhost resolves to" in message and "not a public address" in message and "operator" in message
    assert upstream.seen == []
    # The operator allowing loopback (what the local stack does) lets it through.
    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "localhost")
    config.settings.cache_clear()
    assert _call(api_plugin(), api_connection(base_url=f"http://localhost:{upstream.port}"), {})["status"] == 200


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "fd00:ec2::254"])
def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch, address):
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["93.184.216.34", address] if host == "api.example.com" else [])
    message = _call_stored(api_connection(base_url="http://api.example.com/v1"))
    assert f"api.example.com resolves to {address}" in message


def test_the_checked_address_is_the_one_connected_to(monkeypatch, upstream):
    # DNS rebinding: a second lookup would answer differently; there is none.
    upstream.json("/courses", ["ok"])
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers))
    conn = _stored(api_connection(base_url=f"http://rebind.example.com:{upstream.port}", allowHosts=["rebind.example.com"]))
    from smarter.llm.plugins import PluginContext

    plugin = api_plugin()
    plugin["metadata"].pop("account")
    stored = {**plugin, "spec": _kind().validate(plugin)}
    assert _kind().call(stored, {}, PluginContext(ACCOUNT, lambda name: conn, lambda name: "", 2.0, ()))["body"] == ["ok"]
    assert upstream.seen[-1].headers["host"] == f"rebind.example.com:{upstream.port}"


@pytest.mark.parametrize(
    "target",
    ["http://10.0.0.1/latest", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://localhost:{port}/courses"],
)
def test_a_redirect_to_a_private_address_is_refused(upstream, target):
    upstream.routes["/courses"] = redirect(target.format(port=upstream.port))
    message = _refusal(api_plugin(), api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]))
    assert message.startswith("refused:")
    assert len(upstream.seen) == 1  # the first hop only; the redirect target was never contacted


def test_redirects_between_allowed_hosts_are_followed_and_drop_credentials_across_hosts(upstream, monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "localhost")
    config.settings.cache_clear()
    upstream.routes["/courses"] = redirect(f"http://localhost:{upstream.port}/moved")
    upstream.json("/moved", ["moved"])
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1", "localhost"], authMethod="bearer", secret="k")
    assert _call(api_plugin(), conn, {}, secrets={"k": "tok"})["body"] == ["moved"]
    assert upstream.seen[0].headers["authorization"] == "Bearer tok"
    assert "authorization" not in upstream.seen[1].headers


def test_refusal_reaches_the_model_as_a_tool_result_not_a_failed_request(aws, openai_server, monkeypatch):
    # The name resolved to a public address when applied, and to the metadata address when called.
    answers = iter([["93.184.216.34"]])
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers, ["169.254.169.254"]))
    tenant = _tenant_with(api_connection(base_url="http://metadata.example.com/"), plugins=[api_plugin()])
    openai_server.enqueue(body=tool_calls(("course_catalogue", {})))
    openai_server.enqueue(body=completion("I could not reach the catalogue."))
    result = prompt(tenant, "courses?")
    assert result.status == 200
    content = json.loads(openai_server.requests[-1]["json"]["messages"][-1]["content"])
    assert "metadata address" in content["error"]
    entry = journal_records(tenant.account, tenant.client)[0]["tool_calls"][0]
    assert entry["outcome"] == "error"
    assert "169.254.169.254" in entry["error"]


# --- size and time ---------------------------------------------------------------------


def test_a_100_mb_answer_is_cut_at_the_size_limit_quickly(upstream):
    upstream.routes["/courses"] = endless()
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], maxResponseBytes=256 * 1024)
    started = time.monotonic()
    result = _call(api_plugin(), conn, {})
    elapsed = time.monotonic() - started
    assert result["truncated"] is True
    assert len(result["body"]) == 256 * 1024
    assert elapsed < 2.0
    time.sleep(0.2)
    assert getattr(upstream.server, "streamed", 0) < 100 * 1024 * 1024  # the client hung up long before the end


def test_an_upstream_that_never_answers_times_out(upstream):
    upstream.routes["/courses"] = silent(30)
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], timeout=1)
    started = time.monotonic()
    message = _refusal(api_plugin(), conn)
    assert "within the timeout" in message
    assert time.monotonic() - started < 3.0


def test_a_trickling_upstream_is_held_to_one_deadline(upstream):
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        try:
            for _ in range(1000):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    upstream.routes["/courses"] = trickle
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], timeout=1)
    started = time.monotonic()
    assert "within the timeout" in _refusal(api_plugin(), conn)
    assert time.monotonic() - started < 2.5


def test_platform_timeout_caps_the_connection_timeout(upstream):
    upstream.routes["/courses"] = silent(30)
    conn = api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"], timeout=60)
    started = time.monotonic()
    _refusal(api_plugin(), conn, timeout=1.0)
    assert time.monotonic() - started < 3.0
