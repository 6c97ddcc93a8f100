"""The packed JSON of a journal item's `doc` (store/packed.py): the same value back,
from bytes or from the base64 a Lambda stream event carries, and a clear ValueError
for anything else, a value that would inflate without bound included."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from smarter.store import packed

RECORD = {
    "key": "20261203T131202042Z-979fa534f73b71b3", "created_at": "2026-12-03T13:12:04.284+00:00", "account": "3141-5926-5359",
    "client": "customer-support", "thing": "LLMClient", "command": "prompt", "api_key_id": "ae8602469f3e", "session_key": "pgEY",
    "provider": "openai", "status": 200,
    "request": {"method": "POST", "path": "/", "host": "customer-support.3141-5926-5359.api.example.com",
                "headers": {"content-type": "application/json"}, "body": {"messages": [{"role": "user", "content": "Hello there, how are you today?"}]}},
    "response": {"api": "smarter.sh/v1", "thing": "LLMClient", "metadata": {"command": "prompt", "key": "20261203T131202042Z-979fa534f73b71b3"},
                 "data": {"chat_completion": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1796303524, "model": "gpt-4o-mini",
                                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "You said: héllo ✓"}, "finish_reason": "stop"}],
                                              "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}}}},
    "durations": {"total_ms": 22.4, "provider_ms": 9.49}, "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    "cost_usd": "0.0000066", "reservations": [], "tool_calls": [],
}


def test_a_record_comes_back_the_same_from_bytes_and_from_base64():
    data = packed.pack(RECORD)
    assert packed.unpack(data) == RECORD
    assert packed.unpack(base64.b64encode(data).decode()) == RECORD
    assert packed.unpack(memoryview(data)) == RECORD


def test_a_plain_prompt_record_packs_to_well_under_half_its_json():
    text = json.dumps(RECORD, separators=(",", ":"))
    assert len(packed.pack(RECORD)) < 0.4 * len(text.encode())
    assert len(packed.pack(RECORD)) < len(zlib.compress(text.encode(), 9))  # the dictionary is what does it


@pytest.mark.parametrize("data", [b"", b"\x00abc", b"\x09" + b"x" * 20, "not base64!", b"\x01\xff\xfe\xfd"])
def test_anything_else_is_a_clear_value_error(data):
    with pytest.raises(ValueError):
        packed.unpack(data)


def test_a_value_that_inflates_past_the_limit_is_refused():
    bomb = packed.pack_text(json.dumps("a" * (packed.MAX_UNPACKED + 10)))
    assert len(bomb) < 50_000
    with pytest.raises(ValueError, match="too large"):
        packed.unpack(bomb)


def test_packed_text_that_is_not_json_is_a_value_error():
    with pytest.raises(ValueError, match="not JSON"):
        packed.unpack(packed.pack_text("{not json"))
