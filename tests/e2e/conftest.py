"""The local stack as a user runs it: `python -m smarter_local` in its own
process, reached over HTTP. The `openai` provider points at a scripted
OpenAI-format server in this process; the demo client uses the offline one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from smarter_local.openai_server import OpenAIServer
from smarter_local.stack import StackInfo, free_port


@dataclass
class RunningStack(StackInfo):
    """What the stack printed, plus the scripted provider behind `openai`."""

    openai: OpenAIServer | None = None
    output: str = ""

    def admin_env(self) -> dict[str, str]:
        """The environment the stack printed for the admin CLI (its `export ...` line)."""
        import shlex

        line = next(line for line in self.output.splitlines() if line.startswith("Admin CLI against this stack: export "))
        pairs = dict(item.split("=", 1) for item in shlex.split(line.removeprefix("Admin CLI against this stack: export ")))
        return {**os.environ, **pairs}


@pytest.fixture(scope="session")
def stack():
    fake = OpenAIServer().start()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMARTER_"))},
        "PORT": str(port),
        "MOTO_PORT": str(free_port()),
        "OPENAI_API_KEY": "sk-e2e-provider-key",
        "SMARTER_PROVIDER_OPENAI_BASE_URL": fake.base_url,
        "SMARTER_PROVIDER_MAX_RETRIES": "0",
        "SMARTER_DEMO_PROVIDER": "offline",
        # moto's ACM issues a DNS-validated certificate this many seconds after the request.
        "MOTO_ACM_VALIDATION_WAIT": "10",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "smarter_local"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    api_key = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if line.startswith("API key: "):
            api_key = line.removeprefix("API key: ").strip()
        if line.startswith("Stop with Ctrl-C."):
            break
    if api_key is None or process.poll() is not None:
        process.kill()
        fake.stop()
        pytest.fail("the local stack did not start:\n" + "".join(lines))
    moto_url = f"http://127.0.0.1:{env['MOTO_PORT']}"
    yield RunningStack(port, moto_url, "api.localhost", api_key, openai=fake, output="".join(lines))
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    fake.stop()


@pytest.fixture(autouse=True)
def _fresh_provider_script(request):
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").openai.reset()
