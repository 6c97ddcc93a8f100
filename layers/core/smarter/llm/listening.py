"""Whether something accepts connections at a provider's address: how the
listing tells a keyless provider (`local`: Ollama, vLLM on the machine) that
is running from one that is not. A TCP connect only, no request."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

PROBE_SECONDS = 0.3


def accepts(base_url: str, timeout: float = PROBE_SECONDS) -> bool:
    """True if a TCP connection to the URL's host and port opens within `timeout`."""
    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
