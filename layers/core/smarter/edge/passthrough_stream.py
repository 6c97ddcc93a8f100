"""The streamed passthrough: `POST /v1/passthrough/{provider}` with
`"stream": true` forwards the provider's server-sent events as they arrive.

Everything else on the passthrough (and any request that is not a streamed
one) stays with the buffered route and its envelope. A streamed request is
checked the same way (platform host, key, provider, body); until the provider
has answered 200 with an event stream, every answer is the usual envelope,
provider errors included (status and body passed through). After that the
body is the provider's bytes, unchanged; a failure mid-stream ends it with an
OpenAI-style `data: {"error": ...}` event. The journal record is written when
the stream ends, however it ends, with the text and usage that went through.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from smarter.edge import passthrough, web
from smarter.edge.envelope import envelope
from smarter.edge.streams import SSE_HEADERS, StreamedResponse, cors_headers
from smarter.errors import NotFound, SmarterError
from smarter.llm import providers, streaming
from smarter.redact import REDACTED, scrub
from smarter.store.journal import RequestRecord
from smarter.tenancy import auth, hosts, limits

logger = Logger(child=True)

# Ours, and Smarter's path for the same route.
PATH = re.compile(r"^(?:/v1/passthrough|/api/v1/prompts/passthrough)/([^/]+)/?$")
JOURNAL_HEADER = "X-Smarter-Journal-Key"


def _wants_stream(raw_event: dict[str, Any]) -> bool:
    """A POST to the passthrough whose JSON body asks for a stream. Anything
    unreadable is left to the buffered route, which answers it precisely."""
    if raw_event.get("httpMethod") != "POST" or not PATH.match(raw_event.get("path") or ""):
        return False
    try:
        body = json.loads(APIGatewayProxyEvent(raw_event).decoded_body if raw_event.get("isBase64Encoded") else raw_event.get("body") or "")
    except (ValueError, TypeError, RecursionError):  # not UTF-8, not JSON, nested too deeply
        return False
    return isinstance(body, dict) and body.get("stream") is True


def handle_if_streaming(raw_event: dict[str, Any]) -> dict[str, Any] | StreamedResponse | None:
    """The streamed passthrough's answer, or None when the request is not one."""
    if not _wants_stream(raw_event):
        return None
    event = APIGatewayProxyEvent(raw_event)
    provider_name = PATH.match(event.path).group(1)
    record = RequestRecord("Prompt", "passthrough", method=event.http_method, path=event.path,
                           host=web.domain_name(raw_event), headers=raw_event.get("headers"))
    record.provider = provider_name
    cors = cors_headers(event.headers, JOURNAL_HEADER)
    try:
        if hosts.parse_host(record.request["host"]).kind != "platform":
            raise NotFound(f"{event.path} is served on the platform host only")
        key = auth.authenticate(event.headers)
        record.account, record.api_key_id = key["account"], key["key_id"]
        passthrough.require_account_key(key)
        target = providers.get_provider(provider_name)
        # The same size, encoding, JSON and budget checks as the buffered passthrough.
        body = passthrough.admit(record, key, target, web.json_body(SimpleNamespace(current_event=event), record))
        forward = streaming.open_forward(target, body)
    except SmarterError as exc:
        return _envelope(record, exc.status, envelope(record.thing, record.command, record.key, error=exc), {**cors, **exc.headers})
    except Exception:
        logger.exception("unhandled error", extra={"journal_key": record.key})
        failure = SmarterError("internal error; the journal key identifies this request")
        return _envelope(record, 500, envelope(record.thing, record.command, record.key, error=failure), cors)

    if forward.status != 200 or "text/event-stream" not in forward.content_type:
        # Not a stream (an error, or a provider that ignores `stream`): the buffered passthrough's answer.
        raw = b"".join(forward.chunks)
        forward.close()
        # As the buffered passthrough: never the platform's key, and error text scrubbed.
        key = providers.provider_key(target) or ""
        text = raw.decode("utf-8", "replace")
        text = scrub(text, [key]) if forward.status >= 400 else (text.replace(key, REDACTED) if len(key) >= 6 else text)
        try:
            answer: Any = json.loads(text)
        except (ValueError, RecursionError):
            answer = text
        if isinstance(answer, dict):
            record.add_usage(answer.get("usage"))
        data = {"status": forward.status, "body": answer}
        return _envelope(record, forward.status, envelope(record.thing, record.command, record.key, data=data, provider=provider_name), cors)

    headers = {**SSE_HEADERS, JOURNAL_HEADER: record.key, **limits.headers(record), **cors}
    return StreamedResponse(200, headers, _relay(record, forward))


def _envelope(record: RequestRecord, status: int, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    record.finish(status, body)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", JOURNAL_HEADER: record.key, **limits.headers(record), **headers},
        "body": json.dumps(body, default=str),
        "isBase64Encoded": False,
    }


class _Tap:
    """Reads the events passing through for the journal (text, usage), without holding them up."""

    def __init__(self) -> None:
        self.buffer = b""
        self.assembler = streaming.Assembler()
        self.bytes = 0
        self.events = 0

    def feed(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if not data or data == b"[DONE]":
                continue
            self.events += 1
            try:
                payload = json.loads(data)
            except (ValueError, RecursionError):
                continue
            if isinstance(payload, dict):
                self.assembler.add(payload)


def _relay(record: RequestRecord, forward: streaming.Forward):
    import time

    tap = _Tap()
    outcome: dict[str, Any] = {"complete": False}
    started = time.perf_counter()
    waited = 0.0
    try:
        mark = time.perf_counter()
        for chunk in forward.chunks:
            waited += time.perf_counter() - mark
            tap.feed(chunk)
            yield chunk
            mark = time.perf_counter()
        outcome["complete"] = True
    except SmarterError as exc:
        outcome["error"] = {"type": exc.type, "message": exc.message, "status": exc.status}
        yield streaming.event({"error": {"message": exc.message, "type": "api_error", "code": exc.type, "param": None}})
    except GeneratorExit:
        outcome["disconnected"] = True  # the client went away: the provider's stream is closed too
        raise
    finally:
        forward.close()
        record.provider_ms += waited * 1000 if waited else (time.perf_counter() - started) * 1000
        assembled = tap.assembler.body()
        record.add_usage(assembled.get("usage"))
        message = assembled["choices"][0]["message"]
        record.finish(200, {"status": 200, "stream": True, "events": tap.events, "bytes": tap.bytes, "model": assembled.get("model"),
                            "content": message.get("content"), "tool_calls": message.get("tool_calls"), **outcome})
