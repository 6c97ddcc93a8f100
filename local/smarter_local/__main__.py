"""`python -m smarter_local` (what `make run` calls)."""

from __future__ import annotations

import os
import signal
import sys
import threading

# Provider keys taken from the environment into the local Secrets Manager.
PROVIDER_KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "googleai": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "togetherai": "TOGETHER_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "groq": "GROQ_API_KEY",
}


def main() -> int:
    from .stack import LocalStack, describe

    port = int(os.environ.get("PORT", "9357"))
    moto_port = int(os.environ.get("MOTO_PORT", str(port + 1)))
    keys = {name: os.environ[var] for name, var in PROVIDER_KEY_VARS.items() if os.environ.get(var)}
    provider = os.environ.get("SMARTER_DEMO_PROVIDER") or ("openai" if "openai" in keys else "offline")
    stack = LocalStack(port=port, moto_port=moto_port)
    info = stack.start(provider=provider, provider_keys=keys)
    print(describe(info, provider), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
