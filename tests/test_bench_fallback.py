"""`python -m bench.fallback` (our side only, briefly): a 30 % failing first
target and a healthy fallback answer every request, from both targets, and
the JSON says so with numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_fallback_bench_answers_every_request_from_both_targets(tmp_path):
    out = tmp_path / "fallback.json"
    proc = subprocess.run([sys.executable, "-m", "bench.fallback", "--requests", "30", "--no-litellm", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads(out.read_text())["ours"]
    assert ours["direct"]["success_rate"] == 1.0 and ours["fallback"]["success_rate"] == 1.0
    assert set(ours["fallback"]["served"]) == {"flaky", "healthy"}  # 30 % fell back, the rest did not
    assert ours["fallback"]["p50_ms"] > 0 and isinstance(ours["hop_ms"], (int, float))
