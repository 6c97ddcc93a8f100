"""A test whose system dependency is missing skips on a developer's machine
and fails under CI=true, so the suite cannot shrink silently. Each case runs
pytest in a subprocess on a small test file, as CI would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

MISSING_TOOL = """
import needs

def test_needs_a_tool():
    needs.missing("the frobnicator is not installed")
"""

MISSING_POSTGRES = """
import postgres
from plugin_fixtures import postgres_cluster  # noqa: F401 (fixture)

postgres.bin_dir = lambda: None  # as on a machine without Debian's postgresql

def test_needs_postgres(postgres_cluster):
    assert postgres_cluster
"""


def _run(tmp_path: Path, source: str, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_case.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path / "test_case.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("source", [MISSING_TOOL, MISSING_POSTGRES], ids=["a_tool", "postgresql"])
def test_without_ci_a_missing_dependency_skips_and_says_why(tmp_path, source):
    done = _run(tmp_path, source, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "not installed" in done.stdout


@pytest.mark.parametrize("source", [MISSING_TOOL, MISSING_POSTGRES], ids=["a_tool", "postgresql"])
@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_dependency_fails_the_run(tmp_path, source, ci):
    done = _run(tmp_path, source, ci)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    assert "not installed" in done.stdout and "CI is set" in done.stdout


def test_ci_false_is_not_ci(tmp_path):
    done = _run(tmp_path, MISSING_TOOL, "false")
    assert done.returncode == 0 and "1 skipped" in done.stdout
