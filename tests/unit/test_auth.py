"""API keys: random, hashed, parsed from Token or Bearer headers."""

from __future__ import annotations

import pytest

from smarter.errors import Forbidden, Unauthorized
from smarter.tenancy import auth


def test_new_keys_are_random_and_carry_their_public_id():
    ids_and_keys = [auth.new_key() for _ in range(50)]
    assert len({key for _, key in ids_and_keys}) == 50
    for key_id, key in ids_and_keys:
        assert key.startswith(f"smk_{key_id}_")
        assert len(key) > 50


def test_hash_is_sha256_hex_and_never_the_key():
    key = "smk_abc_secret"
    digest = auth.hash_key(key)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == auth.hash_key(key)
    assert digest != auth.hash_key(key + "x")
    assert "secret" not in digest


@pytest.mark.parametrize(
    "header",
    ["Token smk_1", "Bearer smk_1", "token smk_1", "BEARER smk_1", "  Token   smk_1  "],
)
def test_token_and_bearer_schemes(header):
    assert auth.key_from_headers({"Authorization": header}) == "smk_1"


def test_header_name_is_case_insensitive():
    assert auth.key_from_headers({"authorization": "Bearer k"}) == "k"


@pytest.mark.parametrize("headers", [None, {}, {"Authorization": ""}, {"X-Api-Key": "k"}])
def test_missing_key(headers):
    with pytest.raises(Unauthorized, match="missing API key"):
        auth.key_from_headers(headers)


@pytest.mark.parametrize("header", ["Basic abc", "Token", "Bearer ", "smk_only"])
def test_malformed_header(header):
    with pytest.raises(Unauthorized, match="malformed"):
        auth.key_from_headers({"Authorization": header})


def test_authorize_client_checks_account_then_client_list():
    key = {"account": "1111-1111-1111", "clients": ["a", "b"]}
    auth.authorize_client(key, "1111-1111-1111", "a")
    with pytest.raises(Forbidden, match="another account"):
        auth.authorize_client(key, "2222-2222-2222", "a")
    with pytest.raises(Forbidden, match="not allowed"):
        auth.authorize_client(key, "1111-1111-1111", "c")
    auth.authorize_client({"account": "1111-1111-1111", "clients": None}, "1111-1111-1111", "anything")
