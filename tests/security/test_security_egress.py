"""Egress, as a hostile tenant tries it (issue 10, cases 1, 2 and 6, and their
family): the operator's policy decides where plugins may connect; a manifest
can narrow it, never widen it; every hop and every resolved address is
checked; the connection goes to the checked address.

Each case goes through `smarter apply` (refused with the field), and, for an
item stored before the rules, through `smarter plugin test` and the prompt
API with a scripted model (refused at call time, journaled), against real
loopback servers that must never see the request."""

from __future__ import annotations

import pytest
from hostile import model_calls, plugin_test, refused_and_journaled, smarter_apply, tamper_connection, tenant_with
from plugin_fixtures import api_connection, api_plugin, production_egress, redirect, sql_connection, sql_plugin, upstream  # noqa: F401

from smarter import config
from smarter.tenancy import egress

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def production(aws, production_egress):
    """The stack's own fixtures first, then production's egress policy on top."""
    return aws


def _operator_allows(monkeypatch, rules: str, deny: str = "") -> None:
    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", rules)
    monkeypatch.setenv("SMARTER_EGRESS_DENY", deny)
    config.settings.cache_clear()


# --- case 1: allowHosts cannot open loopback or private addresses --------------------------


def test_case1_apply_refuses_a_loopback_base_url_whatever_allowHosts_says(production, moto_url, tmp_path):
    port = moto_url.rsplit(":", 1)[1]
    conn = api_connection(base_url=f"http://127.0.0.1:{port}", allowHosts=["127.0.0.1", "10.0.0.5", "192.168.1.1"])
    result = smarter_apply(tmp_path, conn)
    assert result.code != 0
    assert "spec.connection.allowHosts" in result.err
    assert "127.0.0.1 is not a public address" in result.err and "allowHosts narrows" in result.err


def test_case1_apply_refuses_a_loopback_base_url_without_allowHosts(production, moto_url, tmp_path):
    result = smarter_apply(tmp_path, api_connection(base_url=f"http://127.0.0.1:{moto_url.rsplit(':', 1)[1]}"))
    assert result.code != 0
    assert "spec.connection.baseUrl: 127.0.0.1 is not a public address" in result.err
    assert "only the platform operator can allow it" in result.err


def test_case1_a_stored_loopback_connection_never_reaches_moto_through_plugin_test(production, moto_url, tmp_path, monkeypatch):
    # Issue 10 reproduced this with the moto server's /moto-api/data.json.
    tenant_with(api_connection(base_url="https://api.example.com"), plugins=[api_plugin(endpoint="/moto-api/data.json", parameters=None, testValues=None)],
                tamper=[api_connection(base_url=moto_url, allowHosts=["127.0.0.1", "10.0.0.5", "192.168.1.1"])])
    result = plugin_test("course_catalogue")
    assert result.code == 1
    assert "error: refused: 127.0.0.1 is not a public address" in result.err
    assert "SMARTER_EGRESS_ALLOW" in result.err
    assert "dynamodb" not in result.out + result.err  # no byte of moto's state came back


def test_case1_a_stored_loopback_connection_is_refused_through_the_prompt_api(production, openai_server, upstream):
    upstream.json("/courses", {"secret": "loopback service"})
    tenant = tenant_with(api_connection(base_url="https://api.example.com"), plugins=[api_plugin()],
                         tamper=[api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"])])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, "refused:", "127.0.0.1 is not a public address")
    assert upstream.seen == []


def test_case1_a_name_resolving_to_one_public_and_one_loopback_address_is_refused(production, tmp_path, monkeypatch):
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["93.184.216.34", "127.0.0.1"])
    result = smarter_apply(tmp_path, api_connection(base_url="https://mixed.example.com", allowHosts=["mixed.example.com"]))
    assert result.code != 0
    assert "spec.connection.baseUrl: mixed.example.com resolves to 127.0.0.1, which is not a public address" in result.err


def test_dns_rebinding_between_apply_and_call_is_refused_at_call_time(production, openai_server, upstream, monkeypatch):
    answers = iter([["93.184.216.34"]])  # public when applied, loopback ever after
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers, ["127.0.0.1"]))
    tenant = tenant_with(api_connection(base_url=f"http://rebind.example.com:{upstream.port}"), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, "rebind.example.com resolves to 127.0.0.1")
    assert upstream.seen == []


def test_allowHosts_narrows_a_tenant_to_the_hosts_it_names(aws, openai_server, upstream):
    # The operator allows loopback here (the local stack); the tenant's list still binds it.
    upstream.routes["/courses"] = redirect(f"http://localhost:{upstream.port}/elsewhere")
    upstream.json("/elsewhere", {"leak": True})
    tenant = tenant_with(api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, "localhost is not one of the connection's allowHosts")
    assert [s.path.split("?")[0] for s in upstream.seen] == ["/courses"]


def test_an_operator_rule_can_be_one_port_and_the_platform_ports_stay_denied(aws, openai_server, upstream, moto_url, monkeypatch):
    moto_port = moto_url.rsplit(":", 1)[1]
    _operator_allows(monkeypatch, f"127.0.0.1:{upstream.port}", deny=f"127.0.0.1:{moto_port}")
    upstream.routes["/courses"] = redirect(f"{moto_url}/moto-api/data.json")
    tenant = tenant_with(api_connection(base_url=upstream.base_url), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, f"127.0.0.1 port {moto_port} is reserved for the platform itself")
    # Another loopback port, not named by the operator, is refused as well.
    _operator_allows(monkeypatch, f"127.0.0.1:{upstream.port}")
    assert egress.policy().refusal("127.0.0.1", int(moto_port)) is not None
    assert egress.policy().refusal("127.0.0.1", upstream.port) is None


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[::a9fe:a9fe]/", "http://[::ffff:a9fe:a9fe]/", "http://0.0.0.0:{port}/courses"])
def test_a_redirect_to_metadata_or_this_host_is_refused_at_the_hop(aws, openai_server, upstream, target):
    upstream.routes["/courses"] = redirect(target.format(port=upstream.port))
    tenant = tenant_with(api_connection(base_url=upstream.base_url), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, "refused:")
    assert len(upstream.seen) == 1


# --- case 6: every IPv6 form that embeds an IPv4 address, and other spellings ---------------


EMBEDDED = [
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254 (::/96)
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (::ffff:0:0:0/96)
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix, metadata inside
    "64:ff9b::a00:5",  # NAT64 with 10.0.0.5 inside
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 (64:ff9b:1::/48)
    "2002:a9fe:a9fe::1",  # 6to4
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo
    "fec0::1",  # site-local
    "fd00:ec2::254",  # EC2 metadata over IPv6
    "fe80::1",
    "::1",
    "::",
]


@pytest.mark.parametrize("address", EMBEDDED)
def test_case6_ipv6_forms_are_refused_when_applied(production, tmp_path, address):
    result = smarter_apply(tmp_path, api_connection(base_url=f"http://[{address}]/"))
    assert result.code != 0, result
    assert "spec.connection.baseUrl" in result.err
    assert "not a public address" in result.err or "metadata" in result.err


@pytest.mark.parametrize("address", ["::a9fe:a9fe", "::ffff:0:a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "fec0::1", "2002:a9fe:a9fe::1"])
def test_case6_names_resolving_to_ipv6_forms_are_refused_at_call_time(production, openai_server, monkeypatch, address):
    answers = iter([["93.184.216.34"]])
    monkeypatch.setattr(egress, "resolve", lambda host, port: next(answers, ["93.184.216.34", address]))
    tenant = tenant_with(api_connection(base_url="https://v6.example.com"), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, f"v6.example.com resolves to {address}")


@pytest.mark.parametrize("spelling", ["0177.0.0.1", "2130706433", "127.1", "0x7f.0.0.1", "localhost", "api.localhost", "0.0.0.0"])
def test_other_spellings_of_this_host_are_refused_when_applied(production, tmp_path, spelling):
    result = smarter_apply(tmp_path, api_connection(base_url=f"http://{spelling}:8080/"))
    assert result.code != 0, result
    assert "spec.connection.baseUrl" in result.err


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses_pass_the_policy(production, address):
    assert egress.policy().refusal(address, 443) is None


def test_the_operator_cannot_open_the_metadata_service_either(aws, monkeypatch):
    _operator_allows(monkeypatch, "0.0.0.0/0,::/0")
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "::ffff:169.254.169.254", "fe80::1"):
        assert "metadata" in egress.policy().refusal(address, 80)


# --- case 2: the SQL host goes through the same policy ------------------------------------


@pytest.mark.parametrize("host", ["169.254.169.254", "10.0.0.5", "localhost", "0.0.0.0", "127.0.0.1", "::a9fe:a9fe", "192.168.1.1"])
def test_case2_sql_hosts_are_refused_when_applied(production, tmp_path, host):
    result = smarter_apply(tmp_path, sql_connection(dbEngine="postgresql", hostname=host, database="d", username="u", secret="pw"))
    assert result.code != 0, result
    assert "spec.connection.hostname" in result.err


@pytest.mark.parametrize("host", ["169.254.169.254", "10.0.0.5", "127.0.0.1"])
def test_case2_stored_sql_hosts_are_refused_at_call_time_before_connecting(production, openai_server, host):
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin()],
                         tamper=[sql_connection(dbEngine="postgresql", hostname=host, port=5432, database="d", username="u", sslMode="disable")])
    outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "x"})
    refused_and_journaled(outcome, "refused:", host)


def test_case2_errors_do_not_tell_an_open_port_from_a_closed_one(production, openai_server, upstream):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    from smarter import cache

    messages = []
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin()])
    for port in (upstream.port, closed):
        tamper_connection(sql_connection(dbEngine="postgresql", hostname="127.0.0.1", port=port, database="d", username="u"))
        cache.clear_all()
        outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "x"})
        messages.append(refused_and_journaled(outcome, "refused:").replace(str(port), "PORT"))
    assert messages[0] == messages[1]
    assert upstream.seen == []


def test_case2_with_loopback_allowed_a_closed_port_and_a_non_postgres_port_still_answer_alike(aws, openai_server):
    """Where the operator allows the address, the connection is tried; the answer
    is the same for a closed port and for a server that speaks something else."""
    import socket
    import threading

    from smarter import cache

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)

    def answer_garbage():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    tenant = tenant_with(sql_connection(dbEngine="sqlite", database="courses.db"), plugins=[sql_plugin()])
    messages = []
    try:
        for port in (listener.getsockname()[1], closed):
            for mode in ("disable", "verify-full"):
                tamper_connection(sql_connection(dbEngine="postgresql", hostname="127.0.0.1", port=port, database="d", username="u", sslMode=mode))
                cache.clear_all()
                outcome = model_calls(openai_server, tenant, "course_db", {"keyword": "x"})
                messages.append((mode, refused_and_journaled(outcome, "cannot connect to the database").replace(str(port), "PORT")))
    finally:
        listener.close()
    assert messages[:2] == messages[2:]


# --- issue 30, point 5: ports in allowHosts, odd hosts at apply, *.localhost ------------------


@pytest.fixture
def second_server():
    """Another loopback HTTP server (another port of an allowed host); records every hit."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            body = b'{"other": "port"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.hits = hits  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_an_allowHosts_entry_with_a_port_refuses_a_redirect_to_another_port(aws, openai_server, upstream, second_server):
    other = second_server.server_address[1]
    upstream.routes["/courses"] = redirect(f"http://127.0.0.1:{other}/elsewhere")
    tenant = tenant_with(api_connection(base_url=upstream.base_url, allowHosts=[f"127.0.0.1:{upstream.port}"]), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    refused_and_journaled(outcome, f"127.0.0.1:{other} is not one of the connection's allowHosts (127.0.0.1:{upstream.port})")
    assert second_server.hits == []
    # The same host without a port allows every port of it (the operator's policy still applies).
    from smarter import cache
    from smarter_admin import manifests

    manifests.apply(api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]))
    cache.clear_all()
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.entry["outcome"] == "ok", outcome.entry
    assert second_server.hits == ["/elsewhere"]


def test_a_base_url_off_the_allowHosts_port_is_refused_at_apply(aws, tmp_path, upstream):
    result = smarter_apply(tmp_path, api_connection(base_url=upstream.base_url, allowHosts=[f"127.0.0.1:{upstream.port + 1}"]))
    assert result.code != 0, result
    assert f"spec.connection.baseUrl: 127.0.0.1:{upstream.port} is not one of the connection's allowHosts" in result.err


@pytest.mark.parametrize("entry, message", [
    ("api.example.com:0", "the port must be a number from 1 to 65535"),
    ("api.example.com:http", "the port must be a number from 1 to 65535"),
    ("[::1%25lo]", "zone id"),
    ("exa mple.com", "is not a host name"),
    ("-api.example.com", "is not a host name"),
])
def test_odd_allowHosts_entries_are_refused_at_apply(production, tmp_path, entry, message):
    result = smarter_apply(tmp_path, api_connection(base_url="https://api.example.com", allowHosts=[entry]))
    assert result.code != 0, result
    assert "spec.connection.allowHosts" in result.err and message in result.err, result.err


@pytest.mark.parametrize("base_url", ["http://[::1%25lo]:8004/", "http://[fe80::1%25eth0]/", "http://a..b/", "http://under_score-.example.com/"])
def test_odd_base_url_hosts_are_refused_at_apply_with_a_clear_message(aws, tmp_path, base_url):
    result = smarter_apply(tmp_path, api_connection(base_url=base_url))
    assert result.code != 0, result
    assert "spec.connection.baseUrl" in result.err
    assert "zone id" in result.err or "is not a host name" in result.err, result.err
    assert "LocationParseError" not in result.err and "Traceback" not in result.err


def test_a_stored_zone_id_base_url_is_refused_at_call_time_not_a_parse_error(aws, openai_server, upstream):
    tenant = tenant_with(api_connection(base_url=upstream.base_url), plugins=[api_plugin()],
                         tamper=[api_connection(base_url=f"http://[::1%25lo]:{upstream.port}")])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    message = refused_and_journaled(outcome, "refused:", "zone id")
    assert "LocationParseError" not in message
    assert upstream.seen == []


def test_the_operators_localhost_allowance_covers_every_localhost_name(aws, openai_server, upstream, tmp_path, monkeypatch):
    _operator_allows(monkeypatch, "localhost")
    upstream.json("/courses", {"courses": ["CS101"]})
    base = f"http://catalogue.api.localhost:{upstream.port}"
    assert smarter_apply(tmp_path, api_connection(base_url=base, allowHosts=["catalogue.api.localhost"])).code == 0
    tenant = tenant_with(api_connection(base_url=base, allowHosts=["catalogue.api.localhost"]), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.entry["outcome"] == "ok", outcome.entry
    assert [s.path.split("?")[0] for s in upstream.seen] == ["/courses"]


def test_localhost_names_stay_refused_where_the_operator_allows_no_loopback(production, tmp_path):
    result = smarter_apply(tmp_path, api_connection(base_url="http://foo.localhost:8080/"))
    assert result.code != 0
    assert "spec.connection.baseUrl: foo.localhost resolves to 127.0.0.1, which is not a public address" in result.err
