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
from smarter.tenancy import egress

from . import safe_http

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


# Smarter's proxy fields of a connection (null accepted, a value refused: unsupported_unless_null).
PROXY_REASON = "proxies are not supported: plugin egress is a network decision (VPC, NAT, an egress allow-list); see docs/migrating-from-smarter.md"


def proxy_fields(*names: str) -> dict[str, str]:
    return {name: PROXY_REASON for name in names}


def secret_reference(data: Any, path: str, field: str) -> Any:
    """Smarter's connections name their Secret in `password` (SqlConnection) or
    `apiKey` (ApiConnection); here that is `secret`. Returns a copy of `data`
    with the reference moved; both given and different is refused."""
    if not isinstance(data, dict) or data.get(field) is None:
        return data
    data = dict(data)
    reference = data.pop(field)
    if data.get("secret") not in (None, reference):
        raise ManifestError(f"{path}.{field}", f"names the secret {reference!r} but `secret` names {data['secret']!r}; keep one")
    if not isinstance(reference, str) or not SECRET_NAME.fullmatch(reference) or ".." in reference or value_looks_like_credential(reference):
        raise ManifestError(f"{path}.{field}", "names the account Secret that holds the credential (a Secret manifest's name), never the credential itself")
    data["secret"] = reference
    return data


def unsupported_unless_null(data: Any, path: str, fields: dict[str, str]) -> Any:
    """Smarter's documented fields that mean nothing here: null (as Smarter's own
    output has them) is accepted and dropped; a value is refused with the reason."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name, reason in fields.items():
        if name in data:
            if data[name] is not None:
                raise ManifestError(f"{path}.{name}", reason)
            del data[name]
    return data


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


def check_connection_exists(manifest: dict[str, Any], connection_kind: str) -> dict[str, Any] | None:
    """At apply time: the plugin's connection must already exist in the account, and be of the right kind.
    Returns the stored connection (None when the manifest names no account, as in unit tests)."""
    name = (manifest.get("spec") or {}).get("connection")
    account = (manifest.get("metadata") or {}).get("account")
    if not account or not isinstance(name, str):
        return None
    found = plugins.find_connection(account, name)
    if found is None:
        raise ManifestError("spec.connection", f"no {connection_kind} named {name!r} in account {account}; apply it first (or in the same file)")
    if found.get("kind") != connection_kind:
        raise ManifestError("spec.connection", f"{name!r} is a {found.get('kind')}, not an {connection_kind}")
    return found


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


# --- credentials only through secret references ---------------------------------------
#
# A connection's secret lives in Secrets Manager and is named by `secret`; a
# manifest is stored in plain text in the config table (and shown by
# `smarter describe`), so a header or query parameter that looks like it
# carries a credential is refused when the manifest is applied.

INLINE_CREDENTIAL_HINT = (
    "looks like a credential; manifests are stored in plain text, so put it in an account Secret and write {secret: NAME} "
    "as the value (or name it in the connection's `secret` with authMethod bearer, token, basic or api_key); "
    "`smarter apply --secrets-from-fields` does this for you"
)
_CREDENTIAL_WORDS = ("apikey", "token", "secret", "passw", "credential", "cookie", "signature", "authorization", "accesskey", "privatekey", "sessionid", "bearer")
_CREDENTIAL_NAMES = {"key", "sig", "pwd", "auth", "xauth", "code", "pass", "jwt", "xkey", "authkey", "hmac"}
_CREDENTIAL_VALUE = re.compile(
    r"^\s*(?:bearer|basic|token|digest)\s+\S{8,}"  # an Authorization value under another name
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"  # OpenAI/Stripe-style keys
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.",  # a JWT
    re.IGNORECASE,
)


def looks_like_credential(name: str) -> bool:
    """A header or parameter name that carries a credential (X-API-Key, api_key, access_token, Cookie...)."""
    folded = re.sub(r"[^a-z0-9]", "", name.lower())
    return folded in _CREDENTIAL_NAMES or any(word in folded for word in _CREDENTIAL_WORDS)


def value_looks_like_credential(value: str) -> bool:
    return bool(_CREDENTIAL_VALUE.search(value))


def secret_value_reference(value: Any, path: str) -> dict[str, str] | None:
    """`{secret: NAME}` as a header or query parameter value: the value of the
    account Secret NAME, read at call time. None for any other value."""
    if not isinstance(value, dict) or "secret" not in value:
        return None
    if set(value) != {"secret"} or not isinstance(value["secret"], str) or not SECRET_NAME.fullmatch(value["secret"]) or ".." in value["secret"]:
        raise ManifestError(path, "{secret: NAME} names an account Secret (a Secret manifest's name) whose value is sent here")
    return {"secret": value["secret"]}


def without(text: str, secrets: list[str]) -> str:
    """`text` with every Secret value in it (a URL in an error message) replaced."""
    for value in secrets:
        text = text.replace(value, "[secret]")
        from urllib.parse import quote_plus

        text = text.replace(quote_plus(value), "[secret]")
    return text


def refuse_inline_credentials(params: dict[str, Any], path: str, *, templated: Any = None) -> dict[str, Any]:
    """Query parameters: a credential-looking name with a fixed value, or a value that
    looks like a key, is refused. A value the model fills (`{page_token}`) is not a secret,
    nor is `{secret: NAME}`, which is read from the Secret at call time."""
    params = dict(params)
    for name, value in params.items():
        reference = secret_value_reference(value, f"{path}.{name}")
        if reference is not None:
            params[name] = reference
            continue
        text = value if isinstance(value, str) else "" if value is None else str(value)
        filled_by_model = templated is not None and bool(templated(value)) and PLACEHOLDER_ONLY.fullmatch(text.strip() or "x") is not None
        if (looks_like_credential(str(name)) and not filled_by_model) or value_looks_like_credential(text):
            raise ManifestError(f"{path}.{name}", INLINE_CREDENTIAL_HINT)
    return params


PLACEHOLDER_ONLY = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]{0,63}\}")


# --- the URL and allowHosts of an HTTP connection (api, mcp) ---------------------------


def http_url(value: str, example: str, *, query_hint: str | None = None) -> str:
    """An http(s) URL a connection may name: a host the egress policy could allow, no
    credentials, no fragment (and no query, when `query_hint` says where it goes instead)."""
    parts = safe_http.parse_url(value)
    if (parts.scheme or "").lower() not in ("http", "https") or not parts.host:
        raise ValueError(f"an http or https URL such as {example}")
    if problem := egress.host_problem(parts.host):
        raise ValueError(problem)
    if parts.auth:
        raise ValueError("credentials in the URL are not allowed; name a secret instead")
    if query_hint is not None and (parts.query or parts.fragment):
        raise ValueError(query_hint)
    if parts.fragment:
        raise ValueError("the URL has no fragment")
    return value


def allow_hosts(hosts: list[str]) -> list[str]:
    """A connection's allowHosts: it narrows the operator's egress policy, never widens it."""
    out = []
    for entry in hosts:
        host, port = egress.split_host_port(entry)
        if egress.is_ip(host):
            reason = egress.check_at_apply(host, port)
            if reason:
                raise ValueError(f"{reason}. allowHosts narrows where this connection may go; it cannot open an address the platform refuses")
        out.append(egress.host_entry(host, port))
    return out


def check_url_at_apply(url: str, hosts: list[str], path: str) -> None:
    """At apply: the URL's host and port under the operator's egress policy and the connection's allowHosts."""
    parts = safe_http.parse_url(url)
    port = parts.port or (443 if (parts.scheme or "").lower() == "https" else 80)
    reason = egress.check_at_apply(egress.normalize_host(parts.host or ""), port, hosts)
    if reason:
        raise ManifestError(path, reason)
