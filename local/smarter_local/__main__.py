"""`python -m smarter_local` (what `make run` calls)."""

from __future__ import annotations

import os
import signal
import sys
import threading


def main() -> int:
    from .stack import LocalStack, describe

    port = int(os.environ.get("PORT", "9357"))
    moto_port = int(os.environ.get("MOTO_PORT", str(port + 1)))
    provider, key = "offline", None
    if os.environ.get("OPENAI_API_KEY"):
        provider, key = "openai", os.environ["OPENAI_API_KEY"]
    stack = LocalStack(port=port, moto_port=moto_port)
    info = stack.start(provider=provider, provider_key=key)
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
