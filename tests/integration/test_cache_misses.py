"""The per-container cache keeps what exists apart from what does not: a
stream of unknown API keys is answered from memory after the first try of
each, and never pushes a known key out (each DynamoDB GetItem counted on the
real client, against moto over a socket)."""

from __future__ import annotations

import secrets

import pytest

from smarter.errors import Unauthorized


def _count_get_items():
    from smarter.store import aws

    calls: list[str] = []
    aws.client("dynamodb").meta.events.register("before-parameter-build.dynamodb.GetItem", lambda **kw: calls.append(kw["params"]["Key"]["pk"]["S"]))
    return calls


def _authenticate(key: str):
    from smarter.tenancy import auth

    return auth.authenticate({"Authorization": f"Token {key}"})


def test_thousands_of_unknown_keys_do_not_evict_a_known_one(tenant):
    assert _authenticate(tenant.api_key)["account"] == tenant.account  # now cached
    calls = _count_get_items()
    bogus = [f"sk-bogus-{secrets.token_hex(8)}-{i}" for i in range(1500)]  # more than the 1024 the cache holds
    for key in bogus:
        with pytest.raises(Unauthorized):
            _authenticate(key)
    assert len(calls) == len(bogus)  # each unknown key costs one read, the first time
    assert _authenticate(tenant.api_key)["account"] == tenant.account
    assert len(calls) == len(bogus), "the known key was read from DynamoDB again: the bogus keys evicted it"


def test_an_unknown_key_tried_again_is_answered_from_memory(tenant):
    calls = _count_get_items()
    for _ in range(20):
        with pytest.raises(Unauthorized):
            _authenticate("sk-not-a-real-key")
    assert len(calls) == 1

