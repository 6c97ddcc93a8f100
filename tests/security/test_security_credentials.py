"""Credentials as a hostile tenant or a redirecting upstream would handle them
(issue 10, cases 5 and 8): secrets only through secret references, never
inline in a manifest; a connection's credentials go to its own origin only,
never to the host, port or scheme a redirect names."""

from __future__ import annotations

import pytest
from hostile import model_calls, smarter_apply, tenant_with
from plugin_fixtures import ACCOUNT, api_connection, api_plugin, redirect, upstream  # noqa: F401

from smarter import config

pytestmark = pytest.mark.usefixtures("aws")


def _put_secret(name: str, value: str) -> None:
    from smarter.store import aws

    aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{ACCOUNT}/{name}", SecretString=value)


# --- case 8: no credential in plain text in the config table ------------------------------


@pytest.mark.parametrize(
    ("connection", "field"),
    [
        ({"headers": {"X-API-Key": "abc123"}}, "spec.connection.headers.X-API-Key"),
        ({"headers": [{"name": "api-key", "value": "abc123"}]}, "spec.connection.headers.api-key"),
        ({"headers": {"X-Auth-Token": "abc123"}}, "spec.connection.headers.X-Auth-Token"),
        ({"headers": {"Cookie": "session=abc"}}, "spec.connection.headers.Cookie"),
        ({"headers": {"X-Client-Secret": "abc"}}, "spec.connection.headers.X-Client-Secret"),
        ({"headers": {"X-Custom": "Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghijk.lmnop"}}, "spec.connection.headers.X-Custom"),
        ({"headers": {"X-Upstream": "sk-live-0123456789abcdef0123"}}, "spec.connection.headers.X-Upstream"),
        ({"headers": {"Authorization": "Bearer abc"}}, "spec.connection.headers.Authorization"),
    ],
)
def test_case8_inline_credentials_in_connection_headers_are_refused(tmp_path, connection, field):
    result = smarter_apply(tmp_path, api_connection(base_url="https://api.example.com", **connection))
    assert result.code != 0, result
    assert field in result.err
    assert "secret" in result.err


@pytest.mark.parametrize(
    ("api_data", "field"),
    [
        ({"urlParams": {"api_key": "abc123"}}, "spec.apiData.urlParams.api_key"),
        ({"urlParams": [{"key": "access_token", "value": "abc123"}]}, "spec.apiData.urlParams.access_token"),
        ({"urlParams": {"key": "AIzaSyA-0123456789"}}, "spec.apiData.urlParams.key"),
        ({"urlParams": {"password": "hunter2"}}, "spec.apiData.urlParams.password"),
        ({"urlParams": {"q": "AKIAIOSFODNN7EXAMPLE"}}, "spec.apiData.urlParams.q"),
        ({"headers": {"X-Api-Token": "abc"}}, "spec.apiData.headers.X-Api-Token"),
    ],
)
def test_case8_inline_credentials_in_plugin_parameters_and_headers_are_refused(tmp_path, api_data, field):
    result = smarter_apply(tmp_path, api_connection(base_url="https://api.example.com"), api_plugin(**api_data))
    assert result.code != 0, result
    assert field in result.err
    assert "secret" in result.err


def test_case8_what_is_not_a_credential_is_still_accepted(tmp_path):
    result = smarter_apply(
        tmp_path,
        api_connection(base_url="https://api.example.com", headers={"X-Tenant": "acme", "Accept-Language": "en"}),
        api_plugin(
            urlParams={"format": "json", "author": "ada", "page_token": "{keyword}"},
            parameters=[{"name": "keyword", "type": "string"}], testValues=None,
        ),
    )
    assert result.code == 0, result.err


def test_case8_nothing_secret_is_stored_when_a_manifest_is_refused(tmp_path):
    from smarter.store import storage

    smarter_apply(tmp_path, api_connection(base_url="https://api.example.com", headers={"X-API-Key": "abc123"}))
    assert storage.get_scoped("CONNECTION", ACCOUNT, "catalogue_api") is None


# --- case 5: credentials never follow a redirect to another origin -------------------------


@pytest.fixture
def second():
    """Another loopback server: a different origin (port) from `upstream`."""
    import threading
    from http.server import ThreadingHTTPServer

    from plugin_fixtures import Upstream

    state = Upstream(server=None)  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _recording_handler(state))
    server.daemon_threads = True
    state.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def _recording_handler(state):
    from http.server import BaseHTTPRequestHandler

    from plugin_fixtures import Seen, send

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            state.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, b""))
            route = state.routes.get(self.path.split("?", 1)[0])
            if route is None:
                send(self, 404, b"{}")
            else:
                route(self)

    return Handler


@pytest.mark.parametrize(
    ("auth_method", "secret", "header"),
    [("api_key", "k-123", "api_key"), ("bearer", "tok-123", "authorization"), ("basic", "ada:pw", "authorization"), ("token", "tok-123", "authorization")],
)
def test_case5_credentials_are_dropped_when_a_redirect_changes_the_port(openai_server, upstream, second, auth_method, secret, header):
    _put_secret("upstream-key", secret)
    upstream.routes["/courses"] = redirect(f"http://127.0.0.1:{second.port}/collect")
    second.json("/collect", {"got": "nothing"})
    extra = {"apiKeyHeader": "api_key"} if auth_method == "api_key" else {}
    tenant = tenant_with(api_connection(base_url=upstream.base_url, authMethod=auth_method, secret="upstream-key", **extra), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.entry["outcome"] == "ok"
    assert header in upstream.seen[0].headers  # the first origin gets the credential
    assert header not in second.seen[0].headers  # the second never does
    assert secret not in str(second.seen[0].headers)


def test_case5_credentials_are_dropped_when_a_redirect_changes_the_host(openai_server, upstream, monkeypatch):
    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "localhost")
    config.settings.cache_clear()
    _put_secret("upstream-key", "k-123")
    upstream.routes["/courses"] = redirect(f"http://localhost:{upstream.port}/collect")
    upstream.json("/collect", {"got": "nothing"})
    tenant = tenant_with(api_connection(base_url=upstream.base_url, authMethod="api_key", apiKeyHeader="api_key", secret="upstream-key"), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.entry["outcome"] == "ok"
    assert upstream.seen[0].headers.get("api_key") == "k-123"
    assert "api_key" not in upstream.seen[1].headers


def test_case5_a_scheme_change_is_another_origin():
    from smarter_plugins.safe_http import origin

    assert origin("https://api.example.com/a") != origin("http://api.example.com:443/a")
    assert origin("https://api.example.com/a") == origin("https://API.example.com:443/b")
    assert origin("http://api.example.com/") != origin("http://api.example.com:8080/")


def test_case5_a_same_origin_redirect_keeps_the_credential(openai_server, upstream):
    _put_secret("upstream-key", "tok-123")
    upstream.routes["/courses"] = redirect("/v2/courses")
    upstream.json("/v2/courses", ["ok"])
    tenant = tenant_with(api_connection(base_url=upstream.base_url, authMethod="bearer", secret="upstream-key"), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.result["body"] == ["ok"]
    assert [s.headers.get("authorization") for s in upstream.seen] == ["Bearer tok-123", "Bearer tok-123"]
