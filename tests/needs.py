"""What to do when a test needs something the machine lacks (Chromium,
PostgreSQL, node): on a developer's machine, skip and say how to get it; in
CI (`CI` set, as `.ci/run` and every CI service do), fail, so a suite cannot
shrink silently because a package went missing from the image."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> None:
    """Skip with `reason`, or fail with it under CI."""
    if in_ci():
        pytest.fail(f"{reason}. CI is set, so a missing test dependency fails the run instead of skipping it", pytrace=False)
    pytest.skip(reason)
