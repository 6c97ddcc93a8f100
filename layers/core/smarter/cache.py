"""A small per-container cache: lookups that every request makes (client,
key, plugins, secrets) are served from memory for a few seconds.

Each cache is two cachetools TLRUCaches (least recently used goes first when
full, every item expires at its time to live): one for what was found, and a
smaller one for misses, a load that returned None (an unknown API key, host
or secret). Misses are worth caching, so a stream of bogus keys does not cost
a DynamoDB read each, but apart from the hits: however many unknown keys are
tried, they only push each other out, never a key that exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cachetools

_registry: list["TTLCache"] = []
_MISSING = object()


class TTLCache:
    """`get_or_load` through an LRU of hits and a smaller LRU of misses, both with a TTL.
    `ttl` is read at each insert (settings can change between tests)."""

    def __init__(self, ttl: Callable[[], float], maxsize: int = 1024, miss_maxsize: int = 256):
        def expires(_key: Any, _value: Any, now: float) -> float:
            return now + ttl()

        self._hits: cachetools.TLRUCache[Any, Any] = cachetools.TLRUCache(maxsize, expires)
        self._misses: cachetools.TLRUCache[Any, Any] = cachetools.TLRUCache(miss_maxsize, expires)
        # cachetools' caches are not thread-safe; the tool pool looks secrets up in parallel.
        self._lock = threading.Lock()
        _registry.append(self)

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any:
        with self._lock:
            value = self._hits.get(key, _MISSING)
            if value is not _MISSING:
                return value
            if key in self._misses:
                return None
        value = load()  # outside the lock: a slow load must not hold up other keys
        with self._lock:
            if value is None:
                self._misses[key] = None
            else:
                self._misses.pop(key, None)
                self._hits[key] = value
        return value

    def invalidate(self, key: Any) -> None:
        with self._lock:
            self._hits.pop(key, None)
            self._misses.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._misses.clear()


def clear_all() -> None:
    """Forget everything cached in this process (tests, the CLI after a write)."""
    for cache in _registry:
        cache.clear()
