"""The response-streaming runtime client against a Runtime API on loopback
that speaks Lambda's protocol: the exec wrapper starts it, it fetches the
event, and the handler's answer arrives as API Gateway's prelude, eight NUL
bytes and the chunks, each when the handler produces it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smarter.runtime.lambda_stream import RuntimeClient, serve_one
from smarter.runtime.streams import PRELUDE_CONTENT_TYPE, StreamedResponse

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "layers" / "core" / "bin" / "smarter-stream-runtime"
EVENT = {"httpMethod": "POST", "path": "/v1/chat/completions", "requestContext": {"domainName": "c.1111-2222-3333.api.example.com"}}


class FakeRuntimeApi:
    """Hands out one event, then records the streamed response: chunk arrival times and trailers."""

    def __init__(self, event):
        self.event = event
        self.handed_out = False
        self.chunks: list[tuple[float, bytes]] = []
        self.headers: dict[str, str] = {}
        self.trailers: dict[str, str] = {}
        self.errors: list[dict] = []
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if api.handed_out:
                    time.sleep(30)  # no more events: Lambda would freeze the container here
                    return
                api.handed_out = True
                data = json.dumps(api.event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:f")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                api.headers = {k.lower(): v for k, v in self.headers.items()}
                api.posts.append((self.path, api.headers))
                if self.headers.get("Transfer-Encoding") == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            break
                        api.chunks.append((time.monotonic(), self.rfile.read(size)))
                        self.rfile.readline()
                    while (line := self.rfile.readline().strip()):
                        name, _, value = line.decode().partition(":")
                        api.trailers[name.strip().lower()] = value.strip()
                else:
                    api.errors.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.done.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def runtime_api():
    api = FakeRuntimeApi(EVENT)
    yield api
    api.stop()


def slow_body():
    for word in (b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"):
        yield word
        time.sleep(0.3)


def test_streamed_answer_is_prelude_delimiter_then_chunks_as_produced(runtime_api):
    started = time.monotonic()
    handler = lambda event, context: StreamedResponse(200, {"Content-Type": "text/event-stream"}, slow_body())  # noqa: E731
    serve_one(RuntimeClient(runtime_api.address), handler)
    assert runtime_api.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert runtime_api.headers["content-type"] == PRELUDE_CONTENT_TYPE
    body = b"".join(chunk for _, chunk in runtime_api.chunks)
    prelude, _, payload = body.partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 200, "headers": {"Content-Type": "text/event-stream"}}
    assert payload == b"data: one\n\ndata: two\n\ndata: [DONE]\n\n"
    arrivals = [at - started for at, chunk in runtime_api.chunks if chunk.startswith(b"data: ")]
    assert arrivals[1] - arrivals[0] > 0.2  # sent when produced, not at the end
    assert runtime_api.trailers == {}


def test_a_buffered_answer_goes_out_in_the_same_format(runtime_api):
    handler = lambda event, context: {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": '{"error": {}}'}  # noqa: E731
    serve_one(RuntimeClient(runtime_api.address), handler)
    prelude, _, payload = b"".join(c for _, c in runtime_api.chunks).partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 404 and payload == b'{"error": {}}'


def test_a_body_that_fails_mid_stream_reports_it_in_the_trailers(runtime_api):
    closed = []

    def failing():
        try:
            yield b"data: one\n\n"
            raise ValueError("boom")
        finally:
            closed.append(True)

    serve_one(RuntimeClient(runtime_api.address), lambda e, c: StreamedResponse(200, {}, failing()))
    assert runtime_api.trailers["lambda-runtime-function-error-type"] == "Function.ValueError"
    assert closed == [True]


def test_a_handler_that_raises_posts_an_invocation_error(runtime_api):
    def broken(event, context):
        raise RuntimeError("no")

    serve_one(RuntimeClient(runtime_api.address), broken)
    assert runtime_api.errors[0]["errorType"] == "RuntimeError"


def test_the_exec_wrapper_runs_the_handler_under_the_streaming_client(runtime_api, tmp_path):
    (tmp_path / "app.py").write_text(
        "from smarter.runtime.streams import StreamedResponse\n"
        "def lambda_handler(event, context):\n"
        "    body = [b'host=' + event['requestContext']['domainName'].encode(), b';request=' + context.aws_request_id.encode()]\n"
        "    return StreamedResponse(200, {'Content-Type': 'text/plain'}, iter(body))\n"
    )
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": runtime_api.address, "LAMBDA_TASK_ROOT": str(tmp_path), "_HANDLER": "app.lambda_handler"}
    # Lambda passes the interpreter and the managed runtime's bootstrap; the wrapper keeps the first.
    process = subprocess.Popen([str(WRAPPER), sys.executable, "/var/runtime/bootstrap.py"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert runtime_api.done.wait(30), process.stdout.read1() if process.poll() is not None else "no response"
    finally:
        process.kill()
        process.wait()
    _, _, payload = b"".join(c for _, c in runtime_api.chunks).partition(b"\0" * 8)
    assert payload == b"host=c.1111-2222-3333.api.example.com;request=req-1"


def test_in_buffered_mode_the_answer_is_posted_as_the_proxy_document_before_the_journal_write(runtime_api):
    from smarter.runtime import afterwards

    order = []
    real = afterwards.answer_sent
    afterwards.answer_sent = lambda: (order.append("answer_sent"), real())
    try:
        handler = lambda event, context: {"statusCode": 201, "headers": {"X-A": "b"}, "body": '{"ok": true}'}  # noqa: E731
        serve_one(RuntimeClient(runtime_api.address), handler, buffered=True)
    finally:
        afterwards.answer_sent = real
    path, headers = runtime_api.posts[-1]
    assert path == "/2018-06-01/runtime/invocation/req-1/response"
    assert "lambda-runtime-function-response-mode" not in headers
    assert runtime_api.errors[-1] == {"statusCode": 201, "headers": {"X-A": "b"}, "body": '{"ok": true}'}  # the JSON body as posted
    assert order == ["answer_sent"]


def test_a_stream_returned_in_buffered_mode_is_read_whole(runtime_api):
    serve_one(RuntimeClient(runtime_api.address), lambda e, c: StreamedResponse(200, {"A": "1"}, iter([b"one ", b"two"])), buffered=True)
    assert runtime_api.errors[-1]["body"] == "one two" and runtime_api.errors[-1]["statusCode"] == 200


def test_an_invocation_error_carries_the_xray_error_cause(runtime_api):
    def broken(event, context):
        raise RuntimeError("no")

    serve_one(RuntimeClient(runtime_api.address), broken)
    cause = json.loads(runtime_api.posts[-1][1]["lambda-runtime-function-xray-error-cause"])
    assert cause["exceptions"][0]["type"] == "RuntimeError" and cause["exceptions"][0]["message"] == "no"
    assert any(frame["label"] == "broken" for frame in cause["exceptions"][0]["stack"])


def test_an_answer_that_cannot_be_posted_does_not_end_the_process():
    """A Runtime API that hands out the event, then refuses the post: serve_one returns."""
    api = FakeRuntimeApi(EVENT)
    address = api.address
    handler_calls = []

    class Client(RuntimeClient):
        def stream(self, request_id, response):
            raise OSError("the Runtime API went away")

    try:
        serve_one(Client(address), lambda e, c: handler_calls.append(1) or {"statusCode": 200, "body": ""})
    finally:
        api.stop()
    assert handler_calls == [1]


def test_under_lambda_s_log_descriptor_a_traceback_is_one_frame(runtime_api, tmp_path):
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n"
        "    print('plain line')\n"
        "    raise ValueError('first line\\nsecond line')\n"
    )
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": runtime_api.address, "LAMBDA_TASK_ROOT": str(tmp_path),
           "_HANDLER": "app.lambda_handler", "_LAMBDA_TELEMETRY_LOG_FD": str(write_fd)}
    process = subprocess.Popen([str(WRAPPER), sys.executable, "/var/runtime/bootstrap.py"], env=env, pass_fds=(write_fd,))
    os.close(write_fd)
    try:
        assert runtime_api.done.wait(30)
    finally:
        process.kill()
        process.wait()
    data = b""
    while chunk := os.read(read_fd, 65536):
        data += chunk
    os.close(read_fd)
    frames = []
    while data:
        assert data[:4] == bytes.fromhex("a55a0003")
        size = int.from_bytes(data[4:8], "big")
        frames.append(data[16 : 16 + size].decode())
        data = data[16 + size :]
    assert "plain line" in frames
    [trace] = [f for f in frames if "Traceback" in f]
    assert "ValueError: first line\nsecond line" in trace  # the whole traceback in one frame
