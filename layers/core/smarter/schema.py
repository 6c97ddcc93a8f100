"""Shapes every layer shares: the alphabets of names, the strict Pydantic base
of manifest models, and ValidationErrors turned into messages that name the field."""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import re
import typing
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from smarter.errors import ManifestError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

ACCOUNT_NUMBER = re.compile(r"^\d{4}-\d{4}-\d{4}$")
# RFC 1034 label: letters, digits, hyphens; starts with a letter; no trailing hyphen.
# A client's host label has this shape (CLIENT_NAME is its historical name).
CLIENT_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
HOST_LABEL = CLIENT_NAME
# A client's name: Smarter's snake_case (`example_llm_client`) too. Its host
# label is derived by host_label(): `_` -> `-`, lower case.
CLIENT_MANIFEST_NAME = re.compile(r"^[A-Za-z]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
# Plugin names double as tool names, which providers restrict to this alphabet.
PLUGIN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


def host_label(client_name: str) -> str:
    """The DNS label a client is served under: Smarter's rule, `_` -> `-` and lower case."""
    return client_name.replace("_", "-").lower()


def is_client_name(name: str) -> bool:
    """A name a client may have: its host label must be a DNS label."""
    return bool(CLIENT_MANIFEST_NAME.match(name or "")) and bool(HOST_LABEL.match(host_label(name or "")))


def __getattr__(name: str) -> Any:
    """`Strict`, the base of manifest models, made on first use: importing this
    module (its name alphabets) does not import pydantic, so a function whose
    request path validates nothing with it (the passthrough) never loads it."""
    if name == "Strict":
        from pydantic import BaseModel, ConfigDict

        class Strict(BaseModel):
            # Built on first use, not at import: a request path never validates a manifest.
            model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True, defer_build=True)

        Strict.__module__, Strict.__qualname__ = __name__, "Strict"
        globals()["Strict"] = Strict
        return Strict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending field, e.g. `messages.0.role: Input should be ...`."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = []
    for error in errors[:10]:
        path = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    if len(errors) > 10:
        parts.append(f"and {len(errors) - 10} more")
    return "; ".join(parts)


# Sections where a misspelt field must not pass as a warning: a typo in a limit
# or a price would silently leave spend unbounded or mispriced. Smarter has
# neither, so no Smarter manifest needs leniency there.
ALWAYS_STRICT = frozenset({"limits", "prices"})


def validate_model(model: type[BaseModel], data: Any, prefix: str) -> BaseModel:
    """Validate `data`; every failure of it becomes one ManifestError naming each
    field (an unknown field gets the closest known one as a suggestion).

    While manifest warnings are collected (`collecting_warnings`, i.e. while a
    manifest is planned), an unknown field is a warning naming it and is
    dropped, as Smarter accepts fields it does not know; known fields stay
    strict, and so do unknown ones under `limits` and `prices` (ALWAYS_STRICT).
    Elsewhere (request bodies) an unknown field is refused."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if _warnings.get() is not None:
            extras = [e for e in exc.errors() if e["type"] == "extra_forbidden" and e["loc"]
                      and not ALWAYS_STRICT.intersection(str(p) for p in e["loc"][:-1])]
            stripped = copy.deepcopy(data)
            for error in extras:
                _drop(stripped, error["loc"])
            if extras and stripped != data:
                for error in extras:
                    path = ".".join([prefix, *(str(p) for p in error["loc"])]).strip(".")
                    warn(path, "unknown field, ignored" + did_you_mean(str(error["loc"][-1]), field_names(model, error["loc"][:-1])))
                return validate_model(model, stripped, prefix)
        problems = []
        for error in exc.errors():
            path = ".".join([prefix, *(str(p) for p in error["loc"])]).strip(".")
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden" and error["loc"]:
                message += did_you_mean(str(error["loc"][-1]), field_names(model, error["loc"][:-1]))
            problems.append((path, message))
        raise ManifestError.of(problems) from None


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    """Remove the value at `loc` (a pydantic error location) from `data`; parts
    that name no key (a union member's tag) are skipped."""
    current = data
    for part in loc[:-1]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
    if isinstance(current, dict):
        current.pop(loc[-1], None)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'X'?` naming the closest choice (case-insensitive), or ''."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def field_names(model: type[BaseModel], loc: tuple[Any, ...] = ()) -> list[str]:
    """The field names (and aliases) of the model found at `loc` inside `model`."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item's model is the field's
        info = current.model_fields.get(str(part)) if current else None
        current = _model_in(info.annotation) if info else None
        if current is None:
            return []
    names = []
    for name, info in current.model_fields.items():
        names.append(name)
        if info.alias:
            names.append(info.alias)
    return names


def _model_in(annotation: Any) -> type[BaseModel] | None:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None




# --- warnings: what a manifest may get wrong without being refused -----------------

_warnings: ContextVar[list[str] | None] = ContextVar("manifest_warnings", default=None)


@contextlib.contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Collect the `warn` calls made while validating one manifest."""
    collected: list[str] = []
    token = _warnings.set(collected)
    try:
        yield collected
    finally:
        _warnings.reset(token)


def warn(path: str, message: str) -> None:
    """A manifest problem that does not stop the apply (Smarter accepts it): told
    to whoever applies the manifest, logged when nobody collects."""
    text = f"{path}: {message}" if path else message
    collected = _warnings.get()
    if collected is None:
        logging.getLogger("smarter.manifests").warning(text)
    else:
        collected.append(text)
