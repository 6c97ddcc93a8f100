"""A small per-container TTL cache: lookups that every request makes (client,
key, plugins, secrets) are served from memory for a few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_MISSING = object()
_registry: list["TTLCache"] = []


class TTLCache:
    def __init__(self, ttl: Callable[[], float], maxsize: int = 1024):
        self._ttl = ttl
        self._maxsize = maxsize
        self._items: dict[Any, tuple[float, Any]] = {}
        _registry.append(self)

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._items.get(key, _MISSING)
        if hit is not _MISSING and hit[0] > now:
            return hit[1]
        value = load()
        if len(self._items) >= self._maxsize:
            self._items.clear()
        self._items[key] = (now + self._ttl(), value)
        return value

    def invalidate(self, key: Any) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


def clear_all() -> None:
    """Forget everything cached in this process (tests, the CLI after a write)."""
    for cache in _registry:
        cache.clear()
