"""The functions' Tracer: Powertools' (and the X-Ray SDK) only when tracing is
on, a no-op otherwise, decided by the same rule Powertools applies."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from smarter import tracing

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

ENVIRONMENTS = [
    {},
    {"LAMBDA_TASK_ROOT": "/var/task"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "False"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"},
    {"POWERTOOLS_TRACE_DISABLED": "false"},
]


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()) or "empty")
def test_tracing_is_on_exactly_when_powertools_would_trace(env, monkeypatch):
    from aws_lambda_powertools.tracing.tracer import Tracer

    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.tracing_enabled() == (not Tracer._is_tracer_disabled())
    assert tracing.tracing_enabled(dict(env)) == tracing.tracing_enabled()


def test_a_disabled_tracer_decorates_by_returning_the_function_unchanged():
    tracer = tracing.tracer(env={"POWERTOOLS_TRACE_DISABLED": "true"})
    assert isinstance(tracer, tracing.NoOpTracer)

    def handler(event, context):
        return {"event": event}

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_method(capture_error=False)(handler) is handler
    tracer.put_annotation("client", "bench")
    tracer.put_metadata("usage", {"total_tokens": 3})


def _run(code: str, env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_with_tracing_off_no_function_imports_the_xray_sdk(function):
    code = f"""
import json, sys
sys.path.insert(0, "functions/{function}")
import app
print(json.dumps({{"xray": "aws_xray_sdk" in sys.modules, "tracer": type(app.tracer).__name__}}))
"""
    found = _run(code, {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"})
    assert found == {"xray": False, "tracer": "NoOpTracer"}


def test_with_tracing_on_the_handler_sends_its_segment_to_the_xray_daemon():
    """In Lambda with tracing on, the real Tracer wraps the handler: its
    subsegment arrives over UDP at the daemon's address (a socket here)."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(30)
    port = daemon.getsockname()[1]
    code = """
import json, sys
from smarter import tracing
tracer = tracing.tracer()

@tracer.capture_lambda_handler
def handler(event, context):
    return {"answered": event["n"] + 1}

class Context:
    function_name = "smarter-test"
    aws_request_id = "r-1"

print(json.dumps({"xray": "aws_xray_sdk" in sys.modules, "tracer": type(tracer).__name__,
                  "result": handler({"n": 41}, Context())}))
"""
    try:
        found = _run(code, {"LAMBDA_TASK_ROOT": str(ROOT), "POWERTOOLS_TRACE_DISABLED": "false", "_X_AMZN_TRACE_ID": TRACE_HEADER,
                            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}", "POWERTOOLS_SERVICE_NAME": "test"})
        assert found == {"xray": True, "tracer": "Tracer", "result": {"answered": 42}}
        packet = daemon.recv(65536).decode()
    finally:
        daemon.close()
    header, _, body = packet.partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(body)
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert segment["name"] == "## handler"
