"""What a cold start imports: each function's handler module in a fresh
interpreter, as Lambda's runtime imports it (issue 15: the SDKs and models a
first request does not use stay out of the init)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ["prompt", "passthrough", "openai_api", "usage", "domains"]


def _loaded(function: str) -> dict[str, bool]:
    code = f"""
import json, sys
sys.path.insert(0, "functions/{function}")
import app
print(json.dumps({{name: name in sys.modules for name in ("openai", "httpx", "httpx2", "pydantic", "aws_xray_sdk")}}))
"""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_imports_an_http_sdk_at_init(function):
    loaded = _loaded(function)
    assert not loaded["openai"] and not loaded["httpx"] and not loaded["httpx2"], loaded


def test_the_passthrough_starts_without_pydantic():
    """It forwards raw JSON: the answer-shape and request models load only on the prompt path or the offline provider."""
    assert _loaded("passthrough")["pydantic"] is False


def test_the_manifest_base_model_is_made_on_first_use_and_stays_strict():
    from pydantic import BaseModel, ValidationError

    from smarter import schema

    class Thing(schema.Strict):
        name: str

    assert issubclass(schema.Strict, BaseModel) and schema.Strict is schema.Strict
    assert Thing.model_validate({"name": " x "}).name == "x"
    with pytest.raises(ValidationError):
        Thing.model_validate({"name": "x", "extra": 1})
