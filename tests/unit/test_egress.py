"""The operator's egress policy as pure logic: which addresses are public,
how operator rules read, that a tenant list only narrows, that one bad
address among good ones refuses the host."""

from __future__ import annotations

import pytest

from smarter.tenancy import egress


@pytest.mark.parametrize(
    ("rules", "address", "port", "allowed"),
    [
        ("", "127.0.0.1", 80, False),
        ("127.0.0.1", "127.0.0.1", 80, True),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", 8081, False),
        ("10.0.0.0/8", "10.20.30.40", 5432, True),
        ("10.0.0.0/8:5432", "10.20.30.40", 22, False),
        ("localhost", "::1", 80, True),
        ("localhost", "::ffff:127.0.0.1", 80, True),  # the mapped form is the IPv4 address
        ("[::1]:9000", "::1", 9000, True),
        ("[::1]:9000", "::1", 9001, False),
        ("0.0.0.0/0", "169.254.169.254", 80, False),  # metadata: never
        ("::/0", "fd00:ec2::254", 80, False),
        ("10.0.0.0/8", "::ffff:0:a00:1", 80, False),  # IPv4-translated is not judged as IPv4
    ],
)
def test_operator_rules(rules, address, port, allowed):
    policy = egress.Policy(egress.parse_rules(rules))
    assert (policy.refusal(address, port) is None) is allowed


def test_deny_wins_over_allow():
    policy = egress.Policy(egress.parse_rules("127.0.0.0/8"), egress.parse_rules("127.0.0.1:5000"))
    assert "reserved for the platform" in policy.refusal("127.0.0.1", 5000)
    assert policy.refusal("127.0.0.1", 5001) is None


def test_a_bad_rule_is_a_clear_startup_error():
    with pytest.raises(ValueError, match="not an address or network"):
        egress.parse_rules("intranet.example.com")


def test_one_private_address_among_public_ones_refuses_the_host(monkeypatch):
    monkeypatch.setattr(egress, "policy", lambda: egress.Policy())
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.1"])
    with pytest.raises(egress.EgressRefused, match="api.example.com resolves to 10.0.0.1, which is not a public address"):
        egress.checked_address("api.example.com", 443)


def test_the_first_checked_address_is_the_one_to_connect_to(monkeypatch):
    monkeypatch.setattr(egress, "policy", lambda: egress.Policy())
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["93.184.216.34", "93.184.216.35"])
    assert egress.checked_address("api.example.com", 443) == "93.184.216.34"


def test_a_tenant_list_narrows_and_never_widens(monkeypatch):
    monkeypatch.setattr(egress, "policy", lambda: egress.Policy())
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["127.0.0.1"] if host == "internal.example.com" else ["93.184.216.34"])
    with pytest.raises(egress.EgressRefused, match="not one of the connection's allowHosts"):
        egress.checked_address("other.example.com", 443, ["api.example.com"])
    with pytest.raises(egress.EgressRefused, match="not a public address"):
        egress.checked_address("internal.example.com", 443, ["internal.example.com"])
    assert egress.checked_address("API.example.com.", 443, ["api.example.com"]) == "93.184.216.34"


@pytest.mark.parametrize("address", ["::a9fe:a9fe", "::7f00:1", "::ffff:0:a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:5601:5601", "fec0::1", "64:ff9b::a00:5", "100::1"])
def test_ipv6_forms_embedding_ipv4_are_not_public(address):
    assert not egress.is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses(address):
    assert egress.is_public(address)
