"""The input limits every request body passes, whatever its surface: size
(413), base64 as API Gateway marks it, UTF-8, JSON without NaN/Infinity,
nesting no deeper than SMARTER_MAX_JSON_DEPTH (400). The body is kept for the
journal, redacted and capped."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from smarter.config import settings
from smarter.errors import BadRequest, PayloadTooLarge
from smarter.store.journal import RequestRecord


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The request body's bytes (base64 decoded when API Gateway encoded it),
    within the size limit, or a clear 400/413."""
    raw = event.body
    if raw is None or raw == "":
        raise BadRequest("the request has no body: send a JSON object")
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is marked base64-encoded but is not valid base64") from None
    else:
        # A string API Gateway built; lone surrogates survive to fail the UTF-8 check below.
        data = raw.encode("utf-8", errors="surrogatepass")
    limit = settings().max_body_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is {len(data)} bytes; the limit is {limit} bytes")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(event: APIGatewayProxyEvent, record: RequestRecord) -> Any:
    data = raw_body(event)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        record.keep_body(f"<{len(data)} bytes, not UTF-8>", len(data))
        raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8") from None
    depth = settings().max_json_depth
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is nested too deeply; the limit is {depth} levels") from None
    except ValueError as exc:
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if _deeper_than(body, depth):
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is nested more than {depth} levels deep (SMARTER_MAX_JSON_DEPTH)")
    record.keep_body(body, len(data))
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (no recursion: a hostile body cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
