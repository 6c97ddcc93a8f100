"""Host parsing: which kind of host API Gateway matched, before any lookup."""

from __future__ import annotations

import pytest

from smarter.errors import NotFound
from smarter.tenancy.hosts import HostRoute, is_domain_name, normalize_host, parse_host

API = "api.example.com"
ACCOUNT = "3141-5926-5359"


def parse(host):
    return parse_host(host, API)


def test_default_host_names_the_client_and_the_account():
    assert parse(f"customer-support.{ACCOUNT}.{API}") == HostRoute("default", f"customer-support.{ACCOUNT}.{API}", account=ACCOUNT, client="customer-support")


def test_platform_host_is_the_api_domain_itself():
    assert parse(API) == HostRoute("platform", API)


@pytest.mark.parametrize(
    "host",
    [
        f"customer-support.{ACCOUNT}.{API}:443",
        f"customer-support.{ACCOUNT}.{API}.",
        f"customer-support.{ACCOUNT}.{API}.:8443",
        f"Customer-Support.{ACCOUNT}.API.Example.COM",
        f"  customer-support.{ACCOUNT}.{API}  ",
    ],
)
def test_ports_trailing_dots_case_and_spaces_do_not_change_the_client(host):
    route = parse(host)
    assert (route.kind, route.account, route.client, route.host) == ("default", ACCOUNT, "customer-support", f"customer-support.{ACCOUNT}.{API}")


@pytest.mark.parametrize("host", [f"{API}:8443", f"{API}.", API.upper()])
def test_platform_host_with_port_dot_or_capitals_is_still_the_platform(host):
    assert parse(host).kind == "platform"


def test_api_domain_in_settings_is_used_when_none_is_given(monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_API_DOMAIN", "API.Other.Example.")
    config.settings.cache_clear()
    try:
        assert parse_host("api.other.example").kind == "platform"
    finally:
        config.settings.cache_clear()


@pytest.mark.parametrize(
    "host",
    [
        f"-support.{ACCOUNT}.{API}",  # a label cannot start with a hyphen
        f"support-.{ACCOUNT}.{API}",  # nor end with one
        f"9support.{ACCOUNT}.{API}",  # client names start with a letter
        f"customer_support.{ACCOUNT}.{API}",
        f"{'a' * 64}.{ACCOUNT}.{API}",
        f"customer-support.3141-5926-535.{API}",  # account numbers are 4-4-4 digits
        f"customer-support.31415926-5359.{API}",
        f"customer-support.{API}",  # no account
        f"a.b.{ACCOUNT}.{API}",  # one label too many
        f".{ACCOUNT}.{API}",
        f"customer-support..{API}",
        f"*.{ACCOUNT}.{API}",  # the wildcard is a certificate name, never a request host
    ],
)
def test_malformed_hosts_under_the_api_domain_are_404(host):
    with pytest.raises(NotFound, match="expected {client}.{account}"):
        parse(host)


@pytest.mark.parametrize("host", [None, "", "   ", ":443", "."])
def test_missing_host_is_404(host):
    with pytest.raises(NotFound, match="no host name"):
        parse(host)


@pytest.mark.parametrize("host", ["[::1]", "[::1]:8443", "[2001:db8::1]", "127.0.0.1", "127.0.0.1:9357", "203.0.113.7"])
def test_ip_literals_are_404_without_a_lookup(host):
    with pytest.raises(NotFound, match="not a domain name"):
        parse(host)


@pytest.mark.parametrize("host", ["localhost", "a..example.com", "-a.example.com", "a_b.example.com", "*.acme.com", "acme.c0m"])
def test_malformed_custom_hosts_are_404_without_a_lookup(host):
    with pytest.raises(NotFound, match="not a domain name"):
        parse(host)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("api.acme.com", "api.acme.com"),
        ("API.Acme.COM.", "api.acme.com"),
        ("api.acme.com:443", "api.acme.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("example.org", "example.org"),
        ("3d.acme.com", "3d.acme.com"),  # other labels may start with a digit
        ("api.example.com.evil.net", "api.example.com.evil.net"),  # only a suffix match makes a platform host
        ("notapi.example.com", "notapi.example.com"),
    ],
)
def test_other_domain_names_are_custom_domains(host, expected):
    assert parse(host) == HostRoute("custom", expected)


def test_normalize_keeps_the_brackets_of_an_ipv6_literal_and_drops_its_port():
    assert normalize_host("[2001:DB8::1]:443") == "[2001:db8::1]"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a.co", True),
        ("a" * 63 + ".com", True),
        ("a" * 64 + ".com", False),
        (".".join(["a" * 61] * 4) + ".com", True),  # 251 characters
        (".".join(["a" * 61] * 5) + ".com", False),  # more than 253
        ("com", False),
        ("a.b-.com", False),
        ("a.1234", False),
        ("a.xn--p1ai", True),
        ("a.com.", False),  # expects a normalized name
    ],
)
def test_domain_name_syntax(name, ok):
    assert is_domain_name(name) is ok


def test_the_stacks_execute_api_endpoint_is_the_platform_host():
    route = parse_host("abc123defg.execute-api.eu-west-1.amazonaws.com", "api.example.com")
    assert route.kind == "platform"
    assert parse_host("x.execute-api.evil.example.com", "api.example.com").kind == "custom"


# --- Smarter's client names and their host labels ---------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [("example_llm_client", "example-llm-client"), ("Compat_Chatbot", "compat-chatbot"), ("customer-support", "customer-support")],
)
def test_a_client_name_keeps_its_form_and_derives_its_host_label(name, label):
    from smarter.schema import host_label, is_client_name

    assert is_client_name(name)
    assert host_label(name) == label
    assert parse_host(f"{label}.3141-5926-5359.{API}", API).client == label


@pytest.mark.parametrize("name", ["", "_leading", "trailing_", "9starts-with-digit", "has space", "dot.ted", "x" * 64, "café"])
def test_names_whose_label_is_not_a_dns_label_are_not_client_names(name):
    from smarter.schema import is_client_name

    assert not is_client_name(name)


def test_an_unknown_field_is_a_warning_while_a_manifest_is_planned_and_an_error_elsewhere():
    from pydantic import Field

    from smarter.errors import ManifestError
    from smarter.schema import Strict, collecting_warnings, validate_model

    class Inner(Strict):
        size: int = Field(ge=1)

    class Outer(Strict):
        inner: Inner
        name: str = "x"

    data = {"inner": {"size": 2, "colour": "red"}, "nmae": "y"}
    with pytest.raises(ManifestError):
        validate_model(Outer, data, "spec")  # a request body: refused
    with collecting_warnings() as warnings:
        model = validate_model(Outer, data, "spec")
    assert model.inner.size == 2 and model.name == "x"
    assert sorted(warnings) == ["spec.inner.colour: unknown field, ignored", "spec.nmae: unknown field, ignored; did you mean 'name'?"]
    assert data == {"inner": {"size": 2, "colour": "red"}, "nmae": "y"}  # the caller's data is not changed
    with collecting_warnings() as warnings, pytest.raises(ManifestError) as caught:
        validate_model(Outer, {"inner": {"size": 0, "colour": "red"}}, "spec")  # known fields stay strict
    assert caught.value.path == "spec.inner.size" and warnings == ["spec.inner.colour: unknown field, ignored"]
