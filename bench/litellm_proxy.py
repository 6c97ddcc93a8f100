"""LiteLLM's proxy, for the side-by-side: its own virtual environment
(.venv-litellm, not a project dependency; created here when missing), a config
with one model routed to the same upstream, a master key and no database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench import procs

VENV = procs.ROOT / ".venv-litellm"
# Pinned so runs compare like with like. 1.100.5's dependencies install from
# the package index here; the newer releases tried (1.103 to 1.109) require a
# certifi newer than the index serves at the time of writing.
SPEC = "litellm[proxy]==1.100.5"
MODEL = "gpt-4o-mini"
# The same upstream as a provider with no Responses API of its own (custom_openai/):
# LiteLLM serves /v1/responses for it by its bridge onto chat completions, as
# Smarter does (an openai/ model would be sent to {api_base}/responses natively).
BRIDGED_MODEL = "gpt-4o-mini-bridged"
MASTER_KEY = "sk-bench-master-key"
INSTALL_TIMEOUT = 900


def executable() -> Path:
    return VENV / "bin" / "litellm"


def ensure_installed(log=print) -> str:
    """Create .venv-litellm with LiteLLM's proxy when it is missing; its version."""
    python = VENV / "bin" / "python"
    if not executable().exists():
        log(f"creating {VENV.name} with {SPEC} (once; a few minutes)")
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", SPEC], check=True, timeout=INSTALL_TIMEOUT)
    found = sorted(VENV.glob("lib/python*/site-packages/litellm-*.dist-info"))
    if not found:
        raise RuntimeError(f"{VENV} has no litellm; remove it and run again")
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info")


def write_config(directory: Path, upstream_base_url: str) -> Path:
    path = directory / "litellm-config.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream_base_url}\n"
        "      api_key: sk-bench-upstream\n"
        f"  - model_name: {BRIDGED_MODEL}\n"
        "    litellm_params:\n"
        f"      model: custom_openai/{MODEL}\n"
        f"      api_base: {upstream_base_url}\n"
        "      api_key: sk-bench-upstream\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n",
        encoding="utf-8",
    )
    return path


def start(log_dir: Path, upstream_base_url: str, *, workers: int = 1) -> procs.Service:
    config = write_config(log_dir, upstream_base_url)
    port = procs.free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        # No network here: use the cost map shipped in the package, log errors only.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    # Under bench.procs' supervisor, so it ends with the harness whatever happens;
    # its CPU and memory are read over the supervisor's process tree.
    argv = [sys.executable, "-m", "bench.procs", str(executable()), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", str(workers), "--telemetry", "False"]
    service = procs.start(f"litellm-w{workers}", argv, env=env, log_dir=log_dir, port=port, timeout=180)
    service.stop_timeout = 8.0  # the supervisor gives LiteLLM 3 s to shut down, then kills it
    _wait_healthy(service)
    return service


def _wait_healthy(service: procs.Service, timeout: float = 60.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
            conn.request("GET", "/health/liveliness")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"LiteLLM did not become healthy; see {service.log}")
