"""POST /v1/embeddings on a client host, in-process with real REST API proxy
events: routed to the client's embedding model on the scripted provider,
both encodings, inputs checked, counted and limited like completions, the
manifest field validated, the offline provider deterministic."""

from __future__ import annotations

import base64
import struct

import pytest
from support import invoke, journal_records, make_tenant

from smarter_local.openai_server import error


@pytest.fixture
def embedder(aws):
    return make_tenant(client="embedder", client_config={"embeddingModel": "text-embedding-3-small"})


def embed(tenant, body, key=None):
    return invoke("openai_api", "POST", "/v1/embeddings", host=tenant.host, body=body, key=key or tenant.api_key, scheme="Bearer")


def test_embeddings_come_from_the_clients_embedding_model_in_input_order(embedder, openai_server):
    answer = embed(embedder, {"model": "whatever", "input": ["a", "bbb"]})
    assert answer.status == 200, answer.body
    assert answer.body["object"] == "list" and answer.body["model"] == "text-embedding-3-small"
    assert [d["index"] for d in answer.body["data"]] == [0, 1]
    assert [d["embedding"] for d in answer.body["data"]] == [[1.0, 0.0, 0.25], [3.0, 1.0, 0.25]]  # the provider sent them reversed
    assert answer.body["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    sent = openai_server.requests[-1]
    assert sent["path"] == "/v1/embeddings" and sent["json"] == {"model": "text-embedding-3-small", "input": ["a", "bbb"], "encoding_format": "float"}
    assert answer.headers["x-request-id"] == answer.headers["X-Smarter-Journal-Key"]


def test_base64_is_little_endian_float32(embedder, openai_server):
    answer = embed(embedder, {"input": "hello", "encoding_format": "base64"})
    packed = base64.b64decode(answer.body["data"][0]["embedding"])
    assert list(struct.unpack("<3f", packed)) == [5.0, 0.0, 0.25]
    assert openai_server.requests[-1]["json"]["encoding_format"] == "float"  # asked as floats, encoded here


def test_token_inputs_are_accepted(embedder, openai_server):
    assert embed(embedder, {"input": [1, 2, 3]}).status == 200
    assert openai_server.requests[-1]["json"]["input"] == [[1, 2, 3]]
    assert embed(embedder, {"input": [[1, 2], [3]]}).status == 200


def test_embeddings_are_journaled_and_counted_without_the_vectors(embedder, openai_server):
    answer = embed(embedder, {"input": ["x", "y"]})
    record = next(r for r in journal_records(embedder.account, embedder.client) if r["key"] == answer.headers["X-Smarter-Journal-Key"])
    assert record["command"] == "embeddings" and record["status"] == 200
    assert record["usage"]["total_tokens"] == 6
    assert "0.25" not in str(record.get("response"))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": [""]}, "input[0]"),
        ({"input": "x" * 30000}, "input[0]"),
        ({"input": ["a"] * 2049}, "input"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": [1.5]}, "input"),
        ({"input": "a", "nonsense": True}, "nonsense"),
    ],
)
def test_bad_input_is_openais_400_naming_the_field(embedder, openai_server, body, param):
    answer = embed(embedder, body)
    assert answer.status == 400
    assert answer.body["error"]["type"] == "invalid_request_error" and answer.body["error"]["param"] == param
    assert openai_server.requests == []


def test_a_client_without_an_embedding_model_answers_model_not_found(tenant, openai_server):
    answer = embed(tenant, {"input": "a"})
    assert answer.status == 404 and answer.body["error"]["code"] == "model_not_found"
    assert openai_server.requests == []


def test_a_provider_refusal_is_the_callers_400(embedder, openai_server):
    openai_server.enqueue(status=400, body=error(400, "dimensions not supported"))
    answer = embed(embedder, {"input": "a", "dimensions": 7})
    assert answer.status == 400 and "dimensions not supported" in answer.body["error"]["message"]


def test_a_broken_provider_answer_is_a_502(embedder, openai_server):
    openai_server.enqueue(body={"data": [{"embedding": "nope"}]})
    assert embed(embedder, {"input": "a"}).status == 502


def test_the_offline_provider_answers_deterministic_unit_vectors(aws):
    offline = make_tenant(client="offline-embedder", provider="offline", client_config={"embeddingModel": "offline-embed"})
    first = embed(offline, {"input": ["same", "other"]})
    again = embed(offline, {"input": ["same"], "dimensions": 16})
    assert first.status == 200
    vector = first.body["data"][0]["embedding"]
    assert len(vector) == 16 and abs(sum(v * v for v in vector) - 1) < 1e-4
    assert again.body["data"][0]["embedding"] == vector and first.body["data"][1]["embedding"] != vector


def test_embeddings_are_limited_like_completions(aws, openai_server):
    limited = make_tenant(client="limited-embedder", client_config={"embeddingModel": "text-embedding-3-small"})
    from smarter_admin import manifests

    manifests.apply_documents([{"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "limited-embedder", "account": limited.account},
                                "spec": {"config": {"provider": "openai", "defaultModel": "gpt-4o-mini", "embeddingModel": "text-embedding-3-small"},
                                         "limits": {"requestsPerMinute": 1}}}])
    from smarter import cache

    cache.clear_all()
    assert embed(limited, {"input": "a"}).status == 200
    refused = embed(limited, {"input": "a"})
    assert refused.status == 429 and refused.body["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"embeddingModel": "bad model name!"}, "spec.config.embeddingModel"),
        ({"embeddingProvider": "openai"}, "spec.config.embeddingProvider"),
        ({"embeddingModel": "m", "embeddingProvider": "nope"}, "spec.config.embeddingProvider"),
        ({"embeddingModel": "m", "embeddingProvider": "anthropic"}, "spec.config.embeddingProvider"),
    ],
)
def test_the_embedding_manifest_fields_are_validated(aws, config, field):
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError) as raised:
        make_tenant(client="bad-embedder", client_config=config)
    assert field in str(raised.value)
