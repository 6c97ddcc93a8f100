"""A response whose body is produced while it is sent.

A handler answers either with the usual API Gateway proxy dict (buffered) or
with a `StreamedResponse`. Two transports send the latter as it is produced:
the local gateway (HTTP chunked transfer) and, in AWS, the Lambda
response-streaming runtime client (`runtime.lambda_stream`), which writes the
status and headers as API Gateway's JSON prelude, eight NUL bytes, then the
body chunks. Closing the body (the client went away) runs its `finally`
blocks, which is where a streamed request writes its journal record.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# API Gateway's (and Function URLs') streamed HTTP integration response.
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\0" * 8
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # Proxies (nginx and friends) must not hold the events back.
    "X-Accel-Buffering": "no",
}


@dataclass
class StreamedResponse:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes]
    multi_headers: dict[str, list[str]] = field(default_factory=dict)

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()

    def prelude(self) -> bytes:
        """The metadata API Gateway reads before the streamed body."""
        meta: dict[str, Any] = {"statusCode": self.status, "headers": dict(self.headers)}
        if self.multi_headers:
            meta["multiValueHeaders"] = self.multi_headers
        return json.dumps(meta, separators=(",", ":")).encode("utf-8") + DELIMITER


def as_streamed(response: dict[str, Any] | StreamedResponse) -> StreamedResponse:
    """Any handler answer as a StreamedResponse (a buffered dict becomes one chunk)."""
    if isinstance(response, StreamedResponse):
        return response
    data = response.get("body") or ""
    payload = base64.b64decode(data) if response.get("isBase64Encoded") else str(data).encode("utf-8")
    headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
    multi = {k: [str(v) for v in values] for k, values in (response.get("multiValueHeaders") or {}).items()}
    return StreamedResponse(int(response.get("statusCode", 502)), headers, iter([payload] if payload else []), multi)


def as_buffered(response: dict[str, Any] | StreamedResponse) -> dict[str, Any]:
    """Any handler answer as the proxy JSON document (a stream is read to its end)."""
    if isinstance(response, dict):
        return response
    try:
        payload = b"".join(response.body)
    finally:
        response.close()
    try:
        text, encoded = payload.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(payload).decode(), True
    out: dict[str, Any] = {"statusCode": response.status, "headers": dict(response.headers), "body": text, "isBase64Encoded": encoded}
    if response.multi_headers:
        out["multiValueHeaders"] = response.multi_headers
    return out
