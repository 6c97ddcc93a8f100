"""The journal written after the answer, by the in-process Lambda extension
(smarter.runtime.afterwards), against a Runtime and Extensions API on loopback
that behaves as Lambda's: the extension registers during init, both the runtime
and the extension get each invoke from their `next`, and the next invoke is not
handed out until the runtime *and* the extension have asked for it. Nothing is
lost when the write fails or the function's time runs out: the record is in the
log and S3, and the replay puts it in the table so usage counts it once."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import count_usage, handler, journal_records

EXTENSION_API = "/2020-01-01/extension"
RUNTIME_API = "/2018-06-01/runtime"


class FakeLambdaApi:
    """Lambda's Runtime API and Extensions API for one execution environment."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: list[tuple[str, dict, int]] = []  # (request id, event, deadline ms)
        self.waiting: set[str] = set()
        self.delivered: dict[str, tuple[str, dict, int]] = {}
        self.init_done = False
        self.registered: list[dict] = []
        self.extension_next_at: list[float] = []
        self.runtime_next_at: list[float] = []
        self.responses: list[tuple[float, str, bytes]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else self._chunked()
                if self.path == f"{EXTENSION_API}/register":
                    with api.cond:
                        if api.init_done:  # Lambda refuses a registration after the runtime's first next
                            return self._reply(403, b'{"errorType":"Extension.InvalidRegistration"}')
                        api.registered.append({"name": self.headers.get("Lambda-Extension-Name"), "body": json.loads(data)})
                    return self._reply(200, b'{"functionName":"f"}', {"Lambda-Extension-Identifier": str(uuid.uuid4())})
                if self.path.startswith(f"{RUNTIME_API}/invocation/") and self.path.endswith("/response"):
                    with api.cond:
                        api.responses.append((time.monotonic(), self.path.split("/")[-2], data))
                        api.cond.notify_all()
                    return self._reply(202, b"{}")
                self._reply(404, b"{}")

            def _chunked(self) -> bytes:
                out = b""
                if self.headers.get("Transfer-Encoding") != "chunked":
                    return out
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b""):
                            pass  # trailers
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            def do_GET(self):
                if self.path == f"{EXTENSION_API}/event/next":
                    if not self.headers.get("Lambda-Extension-Identifier"):
                        return self._reply(403, b"{}")
                    request_id, _event, deadline = api.take("extension")
                    body = {"eventType": "INVOKE", "deadlineMs": deadline, "requestId": request_id, "invokedFunctionArn": "arn:aws:lambda:us-east-1:0:function:f"}
                    return self._reply(200, json.dumps(body).encode(), {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})
                if self.path == f"{RUNTIME_API}/invocation/next":
                    request_id, event, deadline = api.take("runtime")
                    return self._reply(200, json.dumps(event).encode(), {"Lambda-Runtime-Aws-Request-Id": request_id, "Lambda-Runtime-Deadline-Ms": str(deadline)})
                self._reply(404, b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def take(self, who: str) -> tuple[str, dict, int]:
        """A `next`: the next invoke is handed out only when the runtime and the
        (registered) extension are both asking, i.e. both are done with the last one."""
        with self.cond:
            (self.extension_next_at if who == "extension" else self.runtime_next_at).append(time.monotonic())
            if who == "runtime":
                self.init_done = True
            self.waiting.add(who)
            self.cond.notify_all()
            while True:
                if who in self.delivered:
                    return self.delivered.pop(who)
                if self.queue and "runtime" in self.waiting and ("extension" in self.waiting or not self.registered):
                    item = self.queue.pop(0)
                    for party in self.waiting:
                        self.delivered[party] = item
                    self.waiting.clear()
                    self.cond.notify_all()
                    continue
                self.cond.wait(0.05)

    def invoke(self, event: dict, *, seconds: float = 30.0) -> str:
        request_id = str(uuid.uuid4())
        with self.cond:
            self.queue.append((request_id, event, int((time.time() + seconds) * 1000)))
            self.cond.notify_all()
        return request_id

    def wait_extension_nexts(self, count: int, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.extension_next_at) >= count, timeout)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def lambda_api(aws, monkeypatch):
    from smarter.runtime import afterwards

    api = FakeLambdaApi()
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    afterwards.reset()
    yield api
    afterwards.reset()
    api.stop()


@pytest.fixture
def write_times(monkeypatch):
    """When each journal batch write started and ended (the real write in between)."""
    from smarter.store import journal

    real = journal._batch_write
    times: list[tuple[float, float]] = []

    def timed(writes):
        started = time.monotonic()
        try:
            real(writes)
        finally:
            times.append((started, time.monotonic()))

    monkeypatch.setattr(journal, "_batch_write", timed)
    return times


def prompt_event(tenant, content: str = "Hello") -> dict:
    from smarter_local.gateway import make_event

    headers = {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Token {tenant.api_key}"}
    body = json.dumps({"messages": [{"role": "user", "content": content}]}).encode()
    return make_event("POST", "/", headers, body, domain=tenant.host, resource="/")


def serve(api: FakeLambdaApi, event: dict, *, seconds: float = 30.0) -> dict:
    """One invoke through the streaming runtime client (it says when the answer is out)."""
    from smarter.runtime.lambda_stream import RuntimeClient, serve_one

    api.invoke(event, seconds=seconds)
    serve_one(RuntimeClient(api.address), handler("prompt"))
    posted = api.responses[-1][2]
    prelude, _, body = posted.partition(b"\0" * 8)
    return {"prelude": json.loads(prelude), "body": json.loads(body)}


def start_extension(api: FakeLambdaApi) -> None:
    from smarter.runtime import afterwards

    afterwards.runtime_reports_answers()
    assert afterwards.start() is True  # init: registered before the runtime's first next
    assert api.registered == [{"name": "smarter-after-response", "body": {"events": ["INVOKE"]}}]
    assert api.wait_extension_nexts(1)


def usage_totals(account: str) -> dict[str, int]:
    from smarter.store import usage

    rows = usage.for_account(account)
    return {"requests": sum(r["requests"] for r in rows), "total_tokens": sum(r["total_tokens"] for r in rows)}


def kept_log_lines(caplog) -> list[str]:
    """The log lines of records kept out of the table, as a CloudWatch export prints them."""
    return [f"2026-11-29T15:00:00.000Z\t{json.dumps({'level': 'ERROR', 'message': r.getMessage(), 'journal_record': r.journal_record})}"
            for r in caplog.records if hasattr(r, "journal_record")]


def test_the_answer_is_posted_before_the_journal_write_and_the_extension_asks_for_the_next_event_after_it(tenant, lambda_api, write_times):
    start_extension(lambda_api)
    out = serve(lambda_api, prompt_event(tenant))
    assert out["prelude"]["statusCode"] == 200
    key = out["body"]["metadata"]["key"]
    assert lambda_api.wait_extension_nexts(2)  # the write is done: the environment may freeze
    posted_at = lambda_api.responses[-1][0]
    (write_started, write_ended), = write_times
    assert posted_at < write_started  # the client did not wait for DynamoDB
    assert write_ended < lambda_api.extension_next_at[1]  # not frozen mid-write
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]
    # the session messages went in the same batch, after the answer
    from smarter.store import sessions

    assert len(sessions.load(tenant.account, tenant.client, out["body"]["metadata"]["session_key"], tenant.key_id)) == 2


def test_the_next_invoke_waits_for_the_previous_journal_write(tenant, lambda_api, monkeypatch):
    from smarter.store import journal

    real = journal._batch_write
    writes: list[tuple[float, float]] = []

    def slow(batch):
        started = time.monotonic()
        time.sleep(0.3)
        real(batch)
        writes.append((started, time.monotonic()))

    monkeypatch.setattr(journal, "_batch_write", slow)
    start_extension(lambda_api)
    serve(lambda_api, prompt_event(tenant, "one"))
    serve(lambda_api, prompt_event(tenant, "two"))  # its next is answered once the extension asked
    assert lambda_api.wait_extension_nexts(3)
    (first_posted, *_), (second_posted, *_) = lambda_api.responses
    assert first_posted < writes[0][0]
    assert writes[0][1] < second_posted  # the second request ran after the first write ended
    assert len(journal_records(tenant.account, tenant.client)) == 2


def test_a_write_failure_after_the_answer_is_kept_in_s3_and_the_log_and_replayed_into_usage_once(tenant, lambda_api, monkeypatch, caplog):
    from smarter.store import aws, journal

    real = journal._batch_write
    failures = {"left": 1}

    def failing_once(writes):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("DynamoDB is down")
        real(writes)

    monkeypatch.setattr(journal, "_batch_write", failing_once)
    caplog.set_level(logging.ERROR)
    start_extension(lambda_api)
    out = serve(lambda_api, prompt_event(tenant))
    assert out["prelude"]["statusCode"] == 200  # the client got its answer regardless
    key = out["body"]["metadata"]["key"]
    assert lambda_api.wait_extension_nexts(2)
    assert journal_records(tenant.account, tenant.client) == []
    kept = aws.client("s3").list_objects_v2(Bucket="smarter-journal", Prefix="journal/_unwritten/")["Contents"]
    assert [o["Key"] for o in kept] == [f"journal/_unwritten/{tenant.account}/{tenant.client}/{key}.json"]
    lines = kept_log_lines(caplog)
    assert [r["key"] for r in journal.records_in_log(lines)] == [key]
    count_usage()
    assert usage_totals(tenant.account)["requests"] == 0

    assert journal.replay_fallbacks() == {"written": 1, "present": 0, "unreadable": 0}
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]
    assert aws.client("s3").list_objects_v2(Bucket="smarter-journal", Prefix="journal/_unwritten/").get("KeyCount") == 0
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}
    # the session messages kept with it are back too
    from smarter.store import sessions

    assert len(sessions.load(tenant.account, tenant.client, out["body"]["metadata"]["session_key"], tenant.key_id)) == 2

    # replayed again, from S3 (nothing left) and from the log: still counted once
    assert journal.replay_fallbacks() == {"written": 0, "present": 0, "unreadable": 0}
    assert [journal.replay(doc) for doc in journal.records_in_log(lines)] == [False]
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}


def test_no_time_left_after_the_answer_keeps_the_record_in_the_log_and_s3_and_the_replay_counts_it_once(tenant, lambda_api, monkeypatch, caplog, write_times):
    from smarter import config
    from smarter.store import aws, journal

    # Less time left than the margin once the answer is out: the write is not started.
    monkeypatch.setenv("SMARTER_JOURNAL_AFTER_MARGIN", "60")
    config.settings.cache_clear()
    caplog.set_level(logging.ERROR)
    start_extension(lambda_api)
    out = serve(lambda_api, prompt_event(tenant), seconds=30)
    assert out["prelude"]["statusCode"] == 200
    key = out["body"]["metadata"]["key"]
    assert lambda_api.wait_extension_nexts(2)
    assert write_times == []  # never started
    logged = journal.records_in_log(kept_log_lines(caplog))
    assert [r["key"] for r in logged] == [key]
    assert "time ran out" in next(r.reason for r in caplog.records if hasattr(r, "journal_record"))
    assert aws.client("s3").list_objects_v2(Bucket="smarter-journal", Prefix="journal/_unwritten/")["KeyCount"] == 1

    # From the log (the S3 copy may be missing when the function was stopped): once.
    assert [journal.replay(doc) for doc in logged] == [True]
    assert [journal.replay(doc) for doc in logged] == [False]
    assert journal.replay_fallbacks() == {"written": 0, "present": 1, "unreadable": 0}
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}


def test_a_write_still_running_when_time_runs_out_is_logged_by_the_watchdog_and_counted_once(tenant, lambda_api, monkeypatch, caplog):
    from smarter import config
    from smarter.store import journal

    real = journal._batch_write

    def hanging(writes):
        time.sleep(2.0)  # DynamoDB hangs past the alarm (the function's end less half the margin)
        real(writes)

    monkeypatch.setattr(journal, "_batch_write", hanging)
    monkeypatch.setenv("SMARTER_JOURNAL_AFTER_MARGIN", "1")
    monkeypatch.setenv("SMARTER_JOURNAL_RESERVE", "0.2")
    config.settings.cache_clear()
    caplog.set_level(logging.ERROR)
    start_extension(lambda_api)
    out = serve(lambda_api, prompt_event(tenant), seconds=2.0)
    key = out["body"]["metadata"]["key"]
    assert lambda_api.wait_extension_nexts(2)
    logged = journal.records_in_log(kept_log_lines(caplog))
    assert [r["key"] for r in logged] == [key]
    # here the hung write did finish (Lambda would have stopped it): table and log both hold it
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]
    assert journal.replay_fallbacks()["present"] == 1
    assert [journal.replay(doc) for doc in logged] == [False]
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}


def test_without_lambda_s_api_the_journal_is_written_before_the_handler_returns(tenant, monkeypatch, write_times):
    from smarter.runtime import afterwards

    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    afterwards.reset()
    assert afterwards.start() is False
    from smarter_local.gateway import LambdaContext

    response = handler("prompt")(prompt_event(tenant), LambdaContext("prompt"))
    key = json.loads(response["body"])["metadata"]["key"]
    assert len(write_times) == 1  # already written when the handler returned
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]


def test_the_setting_off_keeps_the_write_before_the_answer_and_registers_nothing(tenant, lambda_api, monkeypatch, write_times):
    from smarter import config
    from smarter.runtime import afterwards
    from smarter_local.gateway import LambdaContext

    monkeypatch.setenv("SMARTER_JOURNAL_AFTER_RESPONSE", "off")
    config.settings.cache_clear()
    assert afterwards.start() is False
    assert lambda_api.registered == []
    handler("prompt")(prompt_event(tenant), LambdaContext("prompt"))
    assert len(write_times) == 1


def test_the_local_gateway_answers_first_and_writes_before_the_function_s_next_request(tenant, monkeypatch):
    import http.client

    from smarter.store import journal
    from smarter_local.gateway import Gateway

    real = journal._batch_write
    log: list[tuple[str, float]] = []

    def slow(writes):
        log.append(("write started", time.monotonic()))
        time.sleep(0.4)
        real(writes)
        log.append(("write ended", time.monotonic()))

    monkeypatch.setattr(journal, "_batch_write", slow)
    from support import API_DOMAIN

    gateway = Gateway(api_domain=API_DOMAIN, port=0)
    gateway.serve_in_thread()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        body = json.dumps({"messages": [{"role": "user", "content": "Hello"}]})
        headers = {"Host": tenant.host, "Authorization": f"Token {tenant.api_key}", "Content-Type": "application/json"}
        sent = time.monotonic()
        conn.request("POST", "/", body=body, headers=headers)
        first = conn.getresponse()
        first_body = json.loads(first.read())
        log.append(("first answered", time.monotonic()))
        assert first.status == 200
        assert time.monotonic() - sent < 0.4 + 5  # sanity; the order below is what matters
        conn.request("POST", "/", body=body, headers=headers)  # same function: waits for the write
        second = conn.getresponse()
        second.read()
        log.append(("second answered", time.monotonic()))
        assert gateway.wait_idle()
        names = [name for name, _ in log]
        assert names.index("first answered") < names.index("write ended")
        assert names.index("write ended") < names.index("second answered")
        assert first_body["metadata"]["key"] in [r["key"] for r in journal_records(tenant.account, tenant.client)]
        assert len(journal_records(tenant.account, tenant.client)) == 2
    finally:
        gateway.stop()


def test_the_cli_replays_kept_records_from_s3_and_from_a_log_export_once(tenant, monkeypatch, caplog):
    from smarter.store import journal
    from support import smarter_cli

    real = journal._batch_write

    def refuse(writes):
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(journal, "_batch_write", refuse)
    caplog.set_level(logging.ERROR)
    from smarter_local.gateway import LambdaContext

    response = handler("prompt")(prompt_event(tenant), LambdaContext("prompt"))
    key = json.loads(response["body"])["metadata"]["key"]
    monkeypatch.setattr(journal, "_batch_write", real)  # DynamoDB is back
    lines = "\n".join(["START RequestId: 1", *kept_log_lines(caplog), "END RequestId: 1", ""])

    from_log = smarter_cli("journal-replay", "--log", "-", "-o", "json", input=lines)
    assert from_log.code == 0, from_log.err
    assert from_log.json() == [{"source": "-", "written": 1, "present": 0, "unreadable": 0}]
    from_s3 = smarter_cli("journal-replay", "-o", "json")
    assert from_s3.json() == [{"source": "s3", "written": 0, "present": 1, "unreadable": 0}]
    again = smarter_cli("journal-replay", "--log", "-", "-o", "json", input=lines)
    assert again.json()[0]["present"] == 1
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}


def test_the_usage_schedule_replays_kept_records(tenant, monkeypatch):
    from smarter.store import journal
    from smarter_local.gateway import LambdaContext

    real = journal._batch_write

    def refuse(writes):
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(journal, "_batch_write", refuse)
    handler("prompt")(prompt_event(tenant), LambdaContext("prompt"))
    monkeypatch.setattr(journal, "_batch_write", real)  # DynamoDB is back
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event"}
    assert handler("usage")(scheduled, LambdaContext("usage"))["replayed"] == {"written": 1, "present": 0, "unreadable": 0}
    assert handler("usage")(scheduled, LambdaContext("usage"))["replayed"] == {"written": 0, "present": 0, "unreadable": 0}
    count_usage()
    assert usage_totals(tenant.account) == {"requests": 1, "total_tokens": 20}


def test_a_function_process_registers_its_extension_during_init_and_journals_after_the_answer(tenant, lambda_api):
    """The PassthroughFunction as Lambda starts it: the exec wrapper, the streaming
    runtime client, the function module imported (extension registered) before
    the runtime's first next; the answer posted, then the record, then the
    extension's next."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from smarter_local.gateway import make_event
    from support import API_DOMAIN

    root = Path(__file__).resolve().parents[2]
    headers = {"Host": API_DOMAIN, "Authorization": f"Token {tenant.api_key}"}
    lambda_api.invoke(make_event("GET", "/v1/whoami", headers, b"", domain=API_DOMAIN, resource="/v1/{proxy+}"))
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": lambda_api.address, "LAMBDA_TASK_ROOT": str(root / "functions" / "passthrough"),
           "_HANDLER": "app.lambda_handler", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    wrapper = root / "layers" / "core" / "bin" / "smarter-stream-runtime"
    process = subprocess.Popen([str(wrapper), sys.executable, "/var/runtime/bootstrap.py"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        finished = lambda_api.wait_extension_nexts(2, timeout=60)
        assert finished, process.stdout.read1() if process.poll() is not None else "no second extension next"
    finally:
        process.kill()
        process.wait()
    # The fake, like Lambda, refuses a registration once the runtime has asked for its first event.
    assert lambda_api.registered == [{"name": "smarter-after-response", "body": {"events": ["INVOKE"]}}]
    posted_at, _, posted = lambda_api.responses[0]
    prelude, _, body = posted.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 200
    key = json.loads(body)["metadata"]["key"]
    assert posted_at < lambda_api.extension_next_at[1]
    assert [r["key"] for r in journal_records(tenant.account, "-")] == [key]


def test_under_the_managed_runtime_the_handler_s_return_releases_the_write(tenant, lambda_api, write_times, monkeypatch):
    """Lambda's Python runtime (the PromptFunction) as a loop of next, handler,
    POST response: the decorator says the answer is out when the handler returns."""
    import http.client

    from smarter.runtime.lambda_stream import Context
    from smarter.runtime import afterwards
    from smarter.store import journal

    timed = journal._batch_write
    writers: list[str] = []

    def which_thread(writes):
        writers.append(threading.current_thread().name)
        timed(writes)

    monkeypatch.setattr(journal, "_batch_write", which_thread)

    assert afterwards.start() is True
    lambda_api.invoke(prompt_event(tenant))
    host, port = lambda_api.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", f"{RUNTIME_API}/invocation/next")
    response = conn.getresponse()
    event = json.loads(response.read())
    request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
    result = handler("prompt")(event, Context(request_id, response.headers))
    conn.request("POST", f"{RUNTIME_API}/invocation/{request_id}/response", body=json.dumps(result).encode())
    conn.getresponse().read()
    conn.close()
    assert lambda_api.wait_extension_nexts(2)
    (_, write_ended), = write_times
    assert writers == ["smarter-after-response"]  # the extension's thread, not the handler's
    assert write_ended < lambda_api.extension_next_at[1]
    key = json.loads(result["body"])["metadata"]["key"]
    assert [r["key"] for r in journal_records(tenant.account, tenant.client)] == [key]
