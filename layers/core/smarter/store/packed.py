"""JSON packed for a DynamoDB binary attribute: raw DEFLATE (zlib, standard
library) with a preset dictionary of what journal records are made of.

DynamoDB bills a write per started 1 KB of the item, so a plain prompt's
journal record (about 1.9 KB as JSON text: 2 write units, plus 1 for its index
entry) is written as 1 unit once packed. A record is a few hundred bytes of
field names and fixed values ("chat.completion", "smarter.sh/v1", …) that
DEFLATE on its own cannot find repeated in so little text; the dictionary gives
it those to refer to, which is what brings a small record under 1 KB (the
plain prompt's document: 1,377 bytes of JSON, 649 bytes with zlib alone, about
450 with the dictionary).

The first byte names the dictionary. A dictionary is never changed once
written: a better one is a new version, and readers keep every old one.
Values come back from DynamoDB as bytes (botocore) or base64 text (a Lambda
stream event); both are read. Unpacking stops at MAX_UNPACKED bytes, so a
corrupt or hostile value cannot inflate without bound.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

MAX_UNPACKED = 8 * 1024 * 1024  # far above the 350 KB a record keeps inline

# Version 1: the shape of a journal record and its summary, most common last
# (DEFLATE reaches the end of the dictionary with the shortest distances).
_DICTIONARIES: dict[int, bytes] = {
    1: (
        '"error":{"type":"","message":"","status":4},"refused_response_bytes":"usage_estimated":'
        '"tool_calls":[{"id":"call_","type":"function","function":{"name":"","arguments":"{}"}}],'
        '{"plugin":"","arguments":{},"duration_ms":,"result_bytes":,"outcome":"ok"}'
        '"object":"chat.completion.chunk","chat.completion.stream","content":"","chunks":,"complete":true,'
        '"reservations":[{"round":1,"windows":[["W#K#","m2026","d2026","M2026"]],"used":{"tokens":,"usd":"0.0000"}}],'
        '"thing":"Passthrough","command":"passthrough","chat.completions","models","responses","messages",'
        '"request":{"method":"POST","path":"/v1/chat/completions","host":".api.example.com","headers":'
        '{"content-type":"application/json","user-agent":"python-requests/","accept":"*/*","origin":"https://"},'
        '"body":{"model":"gpt-4o-mini","stream":false,"temperature":,"max_tokens":,"session_key":"",'
        '"messages":[{"role":"system","content":""},{"role":"assistant","content":""},{"role":"user","content":""}]}},'
        '"response":{"api":"smarter.sh/v1","thing":"LLMClient","metadata":{"command":"prompt","key":"","session_key":""},'
        '"data":{"chat_completion":{"id":"chatcmpl-","object":"chat.completion","created":17,"model":"gpt-4o-mini",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":,"completion_tokens":,"total_tokens":}},"tool_calls":[],"selected_plugins":[],'
        '"usage":{"prompt_tokens":,"completion_tokens":,"total_tokens":},"provider":"openai","model":"gpt-4o-mini","rounds":1}},'
        '"reservations":[],"tool_calls":[],"_absent":[]}'
        '{"key":"2026T","created_at":"2026-T:.+00:00","account":"","client":"","thing":"LLMClient","command":"prompt",'
        '"api_key_id":"","session_key":"","provider":"openai","status":200,"durations":{"total_ms":,"provider_ms":},'
        '"usage":{"prompt_tokens":,"completion_tokens":,"total_tokens":,"cached_tokens":},"cost_usd":"0.0000",'
        '"method":"POST","path":"/","tool_call_count":0}'
    ).encode("utf-8"),
}
VERSION = 1


def pack(value: Any) -> bytes:
    """Compact JSON of `value`, deflated against the current dictionary."""
    return pack_text(json.dumps(value, separators=(",", ":"), default=str))


def pack_text(text: str) -> bytes:
    """JSON text already made, deflated against the current dictionary."""
    raw = text.encode("utf-8")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[VERSION])
    return bytes([VERSION]) + deflate.compress(raw) + deflate.flush()


def unpack(data: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value packed in `data` (bytes, or base64 text as a Lambda event carries it).
    ValueError for anything that is not a packed value of a known version."""
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not base64: {exc}") from None
    data = bytes(data)
    if not data or data[0] not in _DICTIONARIES:
        raise ValueError("not a packed value (unknown version)")
    inflate = zlib.decompressobj(-15, zdict=_DICTIONARIES[data[0]])
    try:
        raw = inflate.decompress(data[1:], MAX_UNPACKED)
    except zlib.error as exc:
        raise ValueError(f"corrupt packed value: {exc}") from None
    if inflate.unconsumed_tail or not inflate.eof:
        raise ValueError("packed value too large or truncated")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"packed value is not JSON: {exc}") from None
