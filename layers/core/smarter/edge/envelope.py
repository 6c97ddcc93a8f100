"""The journaled JSON envelope: the one shape every answer takes."""

from __future__ import annotations

from typing import Any

from smarter import API_VERSION
from smarter.errors import SmarterError


def envelope(thing: str, command: str, key: str, *, data: Any = None, error: SmarterError | None = None, **metadata: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api": API_VERSION,
        "thing": thing,
        "metadata": {"command": command, "key": key, **{k: v for k, v in metadata.items() if v is not None}},
    }
    if error is not None:
        body["error"] = {"type": error.type, "message": error.message, "status": error.status}
    else:
        body["data"] = data
    return body
