"""Pieces the connection-backed kinds (api, sql) share: manifest checks that
name the field, the `{name, value}` list form, and finding a plugin's connection."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from smarter.errors import ManifestError
from smarter.llm import plugins
from smarter.llm.plugins import PluginCallError, PluginContext
from smarter.schema import validate_model

CONNECTION_NAME_HELP = "the name of a connection manifest in the same account"


SECRET_NAME = re.compile(r"[A-Za-z0-9_.+=@-]{1,128}")


def secret_name(value: str | None) -> str | None:
    """A connection names its secret by one path segment under the account's prefix."""
    if value is not None and (not SECRET_NAME.fullmatch(value) or ".." in value):
        raise ValueError("a secret name is one path segment of letters, digits and _.+=@- (not the secret itself)")
    return value


def refuse_fields(data: Any, path: str, hints: dict[str, str]) -> None:
    """Fields of Smarter's manifests that mean something else here get a hint, not just 'extra field'."""
    if isinstance(data, dict):
        for key, hint in hints.items():
            if key in data:
                raise ManifestError(f"{path}.{key}", hint)


def validate(model: type[BaseModel], data: Any, path: str, hints: dict[str, str] | None = None) -> BaseModel:
    refuse_fields(data, path, hints or {})
    return validate_model(model, data, path)


def name_values(raw: Any, path: str, *, key_names: tuple[str, ...] = ("name", "key")) -> dict[str, Any]:
    """A mapping from either {name: value} or Smarter's [{name, value}] list form."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, list):
        raise ManifestError(path, "a mapping of name to value, or a list of {name, value}")
    out: dict[str, Any] = {}
    for i, item in enumerate(raw):
        key = next((k for k in key_names if isinstance(item, dict) and k in item), None)
        if key is None or set(item) - {key, "value"}:
            raise ManifestError(f"{path}.{i}", f"each entry is {{{key_names[0]}, value}}")
        out[str(item[key])] = item.get("value")
    return out


def check_connection_exists(manifest: dict[str, Any], connection_kind: str) -> None:
    """At apply time: the plugin's connection must already exist in the account, and be of the right kind."""
    name = (manifest.get("spec") or {}).get("connection")
    account = (manifest.get("metadata") or {}).get("account")
    if not account or not isinstance(name, str):
        return
    found = plugins.find_connection(account, name)
    if found is None:
        raise ManifestError("spec.connection", f"no {connection_kind} named {name!r} in account {account}; apply it first (or in the same file)")
    if found.get("kind") != connection_kind:
        raise ManifestError("spec.connection", f"{name!r} is a {found.get('kind')}, not an {connection_kind}")


def connection_spec(context: PluginContext, name: str, connection_kind: str) -> dict[str, Any]:
    """The plugin's connection, at call time."""
    found = context.connection(name)
    if found.get("kind") != connection_kind:
        raise PluginCallError(f"the connection {name!r} is not an {connection_kind}")
    return found["spec"]["connection"]


def check_plugin_class(manifest: dict[str, Any], plugin_class: str) -> None:
    declared = (manifest.get("metadata") or {}).get("pluginClass")
    if declared is not None and declared != plugin_class:
        raise ManifestError("metadata.pluginClass", f"a {manifest.get('kind')} has pluginClass {plugin_class!r}, got {declared!r}")


def tool_description(manifest: dict[str, Any], own: str | None, path: str) -> str:
    description = own or (manifest.get("metadata") or {}).get("description")
    if not description or not str(description).strip():
        raise ManifestError(path, "describe what the tool does (the model reads it to decide when to call it)")
    return str(description).strip()
