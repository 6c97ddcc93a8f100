"""smarter.cache: hits and misses in two LRU caches with a TTL, so unknown
keys never evict known ones; loads counted with a counting loader."""

from __future__ import annotations

import time

from smarter.cache import TTLCache


class Loader:
    """Counts loads; keys starting with "known" exist, the rest do not (None)."""

    def __init__(self):
        self.loads: list[str] = []

    def __call__(self, key: str):
        def load():
            self.loads.append(key)
            return {"key": key} if key.startswith("known") else None

        return load


def test_a_known_key_survives_ten_thousand_distinct_unknown_ones():
    cache, loader = TTLCache(lambda: 60.0), Loader()
    assert cache.get_or_load("known-1", loader("known-1")) == {"key": "known-1"}
    for i in range(10_000):
        assert cache.get_or_load(f"bogus-{i}", loader(f"bogus-{i}")) is None
    assert len(loader.loads) == 10_001
    assert cache.get_or_load("known-1", loader("known-1")) == {"key": "known-1"}
    assert len(loader.loads) == 10_001  # served from memory


def test_a_miss_is_cached_apart_and_answered_without_a_load():
    cache, loader = TTLCache(lambda: 60.0), Loader()
    for _ in range(5):
        assert cache.get_or_load("bogus", loader("bogus")) is None
    assert loader.loads == ["bogus"]


def test_when_full_the_least_recently_used_hit_goes_first():
    cache, loader = TTLCache(lambda: 60.0, maxsize=3), Loader()
    for key in ("known-a", "known-b", "known-c"):
        cache.get_or_load(key, loader(key))
    cache.get_or_load("known-a", loader("known-a"))  # a is now the most recently used
    cache.get_or_load("known-d", loader("known-d"))  # evicts b, not the whole cache
    loader.loads.clear()
    for key in ("known-a", "known-c", "known-d"):
        cache.get_or_load(key, loader(key))
    assert loader.loads == []
    cache.get_or_load("known-b", loader("known-b"))
    assert loader.loads == ["known-b"]


def test_hits_and_misses_expire_at_their_ttl():
    cache, loader = TTLCache(lambda: 0.05), Loader()
    cache.get_or_load("known-1", loader("known-1"))
    cache.get_or_load("bogus", loader("bogus"))
    time.sleep(0.1)
    cache.get_or_load("known-1", loader("known-1"))
    cache.get_or_load("bogus", loader("bogus"))
    assert loader.loads == ["known-1", "bogus", "known-1", "bogus"]


def test_invalidate_forgets_a_cached_miss():
    cache, loader = TTLCache(lambda: 60.0), Loader()
    cache.get_or_load("known-late", lambda: None)  # not there yet
    cache.invalidate("known-late")  # as a write of that item does
    assert cache.get_or_load("known-late", loader("known-late")) == {"key": "known-late"}


def test_clear_forgets_hits_and_misses():
    cache, loader = TTLCache(lambda: 60.0), Loader()
    cache.get_or_load("known-1", loader("known-1"))
    cache.get_or_load("bogus", loader("bogus"))
    cache.clear()
    cache.get_or_load("known-1", loader("known-1"))
    cache.get_or_load("bogus", loader("bogus"))
    assert loader.loads == ["known-1", "bogus", "known-1", "bogus"]
