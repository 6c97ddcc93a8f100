"""Which LLM client a host name means.

The host comes from `requestContext.domainName` (the domain API Gateway
matched), never from the client-controlled Host header. Three shapes:

- the platform host `{api_domain}`: platform routes (passthrough, providers, whoami);
- a default host `{label}.{account}.{api_domain}`: one GetItem for the client
  (the label is the client's name with `_` -> `-`, lower case; a name that
  differs from its label is found through a CLIENTHOST pointer item);
- anything else is a custom domain: one Query on the sparse ByVerifiedDomain
  index, which only holds verified domains, so routing cannot trust a pending one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from smarter.config import settings
from smarter.errors import NotDeployed, NotFound
from smarter.schema import ACCOUNT_NUMBER, HOST_LABEL, host_label, is_client_name
from smarter.store import storage, tenant_aws

# An LDH label (RFC 1123: may start with a digit) and a top-level domain that
# is alphabetic or IDNA, which keeps IPv4 literals out.
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True)
class HostRoute:
    kind: Literal["platform", "default", "custom"]
    host: str
    account: str | None = None
    client: str | None = None


@dataclass(frozen=True)
class ResolvedClient:
    account: str
    name: str
    doc: dict[str, Any]
    host: str


def normalize_host(host: str | None) -> str:
    host = (host or "").strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.split(":", 1)[0].rstrip(".")  # the port first, then a fully qualified name's dot


def is_domain_name(host: str) -> bool:
    """A fully qualified DNS name of two or more labels: no IP literal, no
    wildcard, no empty label, at most 253 characters. Expects a normalized host."""
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels) and bool(_TLD.match(labels[-1]))


# The stack's default endpoint (used when no domain is configured; disabled
# otherwise) serves the platform routes. API Gateway only ever sends this API's own.
EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def parse_host(host: str | None, api_domain: str | None = None) -> HostRoute:
    host = normalize_host(host)
    api_domain = (api_domain or settings().api_domain).lower()
    if not host:
        raise NotFound("the request has no host name")
    if host == api_domain or EXECUTE_API.match(host):
        return HostRoute("platform", host)
    suffix = "." + api_domain
    if host.endswith(suffix):
        labels = host[: -len(suffix)].split(".")
        if len(labels) == 2 and HOST_LABEL.match(labels[0]) and ACCOUNT_NUMBER.match(labels[1]):
            return HostRoute("default", host, account=labels[1], client=labels[0])
        raise NotFound(f"no LLM client is served at {host}: expected {{client}}.{{account}}.{api_domain}")
    if not is_domain_name(host):
        # IP literals and malformed names never reach the index.
        raise NotFound(f"no LLM client is served at {host}: not a domain name")
    return HostRoute("custom", host)


def resolve_client(host: str | None) -> ResolvedClient:
    """The client served at `host` (its default host or a verified custom domain).
    A client with `deployed: false` is not served on a host name."""
    route = parse_host(host)
    if route.kind == "platform":
        raise NotFound(f"{route.host} is the platform host; call a client at {{client}}.{{account}}.{route.host}")
    if route.kind == "default":
        resolved = client_by_label(route.account, route.client, host=route.host)
    else:
        found = storage.client_by_verified_domain(route.host)
        if found is None:
            status = storage.domain_status(route.host)
            if status is not None and status != "verified":
                raise NotFound(f"the domain {route.host} is not verified yet (state: {status})")
            raise NotFound(f"no LLM client is served at {route.host}")
        account, doc = found
        tenant_aws.bind(account)  # from here the request reads AWS as this account only
        resolved = ResolvedClient(account, doc["name"], doc, route.host)
    if not resolved.doc.get("deployed", True):
        raise NotDeployed(
            f"the LLM client {resolved.name!r} is not deployed (deployed: false), so {route.host} does not serve it: "
            f"set spec.config.deployed: true and apply it again, or call it on the platform host at "
            f"/v1/accounts/{resolved.account}/clients/{resolved.name}/prompt with an API key of account {resolved.account}"
        )
    return resolved


def client_by_label(account: str, label: str, *, host: str | None = None) -> ResolvedClient:
    """The client whose host label is `label`: the client of that name, else the
    one a CLIENTHOST pointer names (a snake_case or mixed-case name)."""
    if not (ACCOUNT_NUMBER.match(account or "") and HOST_LABEL.match(label or "")):
        raise NotFound(f"no LLM client {label!r} in account {account!r}")
    tenant_aws.bind(account)  # from here the request reads AWS as this account only
    doc = storage.get_scoped("CLIENT", account, label, cached=True)
    if doc is None or host_label(doc.get("name", label)) != label:
        pointer = storage.get_scoped("CLIENTHOST", account, label, cached=True)
        doc = storage.get_scoped("CLIENT", account, pointer["name"], cached=True) if pointer else None
    if doc is None:
        raise NotFound(f"no LLM client {label!r} in account {account}")
    return ResolvedClient(account, doc["name"], doc, host or f"{label}.{account}.{settings().api_domain}")


def client_by_name(account: str, name: str, *, host: str | None = None) -> ResolvedClient:
    """The path-based route on the platform host and `smarter prompt`: the client
    by its name (or its host label). An undeployed client answers here: this is
    the equivalent of Smarter's sandbox."""
    if not (ACCOUNT_NUMBER.match(account or "") and is_client_name(name or "")):
        raise NotFound(f"no LLM client {name!r} in account {account!r}")
    tenant_aws.bind(account)
    doc = storage.get_scoped("CLIENT", account, name, cached=True)
    if doc is None:
        return client_by_label(account, host_label(name), host=host)
    return ResolvedClient(account, name, doc, host or f"{host_label(name)}.{account}.{settings().api_domain}")
