"""The data-access layer: every DynamoDB read and write of configuration.

The config table is a single table (see docs/data-model.md):

    pk                   sk               what
    ACCOUNT#{number}     ACCOUNT          the account
    ACCOUNT#{number}     CLIENT#{name}    an LLM client (verified_domain set once its domain is verified)
    ACCOUNT#{number}     PLUGIN#{name}    a plugin manifest
    ACCOUNT#{number}     CONNECTION#{name} an API or SQL connection manifest
    ACCOUNT#{number}     CLIENTHOST#{label} the client whose host label this is, when its name differs
    APIKEY#{sha256}      APIKEY           an API key, found by the hash of the secret
    DOMAIN#{host}        DOMAIN           a custom-domain claim (one client per domain)

Documents live as JSON in the `doc` attribute; only the attributes that keys
and indexes need are top level. Reads on the request path are cached for
SMARTER_CACHE_TTL seconds per container.

Reads of one account's own items (`ACCOUNT#{number}`: the account, its
clients, plugins, connections) go through that account's scoped
credentials (store/tenant_aws): in AWS, a read of another account's
partition is denied by IAM (`dynamodb:LeadingKeys`) whatever the code asks.
API keys and domain claims are read with the function's own role: they are
how the caller's account is found in the first place.
"""

from __future__ import annotations

import json
from typing import Any

from smarter.cache import TTLCache
from smarter.config import settings
from smarter.store import aws, tenant_aws

_cache = TTLCache(lambda: settings().cache_ttl_seconds)

# CLIENTHOST#{label} -> {"name": ...}: the client a host label means, for
# clients whose name is not their label (Smarter's snake_case names).
ACCOUNT_SCOPED = ("CLIENT", "PLUGIN", "CONNECTION", "CLIENTHOST", "PROVIDER")


def _ddb():
    return aws.client("dynamodb")


def _cacheable(account: str) -> bool:
    """A request bound to another account never reads this one from the container's
    cache: the read goes to DynamoDB, where IAM refuses it (store/tenant_aws)."""
    bound = tenant_aws.bound()
    return bound is None or bound == account


def _tenant_ddb(account: str):
    """DynamoDB with the account's scoped credentials (the function's own without a tenant role)."""
    return tenant_aws.client("dynamodb", account)


def encode(doc: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    """A DynamoDB item: string/number top-level attributes plus the JSON document."""
    item: dict[str, Any] = {"doc": {"S": json.dumps(doc, separators=(",", ":"), default=str)}}
    for name, value in attrs.items():
        if value is None:
            continue
        item[name] = {"N": str(value)} if isinstance(value, (int, float)) and not isinstance(value, bool) else {"S": str(value)}
    return item


def decode(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    return json.loads(item["doc"]["S"])


def account_pk(account: str) -> str:
    return f"ACCOUNT#{account}"


# --- accounts ----------------------------------------------------------------


def put_account(account: str, doc: dict[str, Any]) -> None:
    _ddb().put_item(
        TableName=settings().config_table,
        Item=encode(doc, pk=account_pk(account), sk="ACCOUNT", gsi1pk="ACCOUNTS", gsi1sk=account),
    )
    _cache.invalidate(("ACCOUNT", account))


def get_account(account: str, *, cached: bool = False) -> dict[str, Any] | None:
    def load() -> dict[str, Any] | None:
        out = _tenant_ddb(account).get_item(TableName=settings().config_table, Key=_key(account_pk(account), "ACCOUNT"))
        return decode(out.get("Item"))

    return _cache.get_or_load(("ACCOUNT", account), load) if cached and _cacheable(account) else load()


def list_accounts() -> list[dict[str, Any]]:
    return _query_index("ByAccount", "gsi1pk", "ACCOUNTS")


def account_items(account: str) -> list[dict[str, Any]]:
    """Every raw item under an account's partition (for delete)."""
    items: list[dict[str, Any]] = []
    kwargs = {
        "TableName": settings().config_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": account_pk(account)}},
    }
    while True:
        out = _ddb().query(**kwargs)
        items.extend(out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


# --- clients, plugins, connections: one mechanism for account-scoped things ---


def put_scoped(kind: str, account: str, name: str, doc: dict[str, Any], **attrs: Any) -> None:
    assert kind in ACCOUNT_SCOPED
    _ddb().put_item(
        TableName=settings().config_table,
        Item=encode(doc, pk=account_pk(account), sk=f"{kind}#{name}", **attrs),
    )
    _cache.invalidate((kind, account, name))


def get_scoped_item(kind: str, account: str, name: str) -> dict[str, Any] | None:
    """The raw item, with its top-level attributes (verified_domain)."""
    out = _tenant_ddb(account).get_item(TableName=settings().config_table, Key=_key(account_pk(account), f"{kind}#{name}"))
    return out.get("Item")


def get_scoped(kind: str, account: str, name: str, *, cached: bool = False) -> dict[str, Any] | None:
    def load() -> dict[str, Any] | None:
        return decode(get_scoped_item(kind, account, name))

    return _cache.get_or_load((kind, account, name), load) if cached and _cacheable(account) else load()


def get_many_scoped(kind: str, account: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Several things of one kind in one BatchGetItem (plugins of a client)."""
    found: dict[str, dict[str, Any]] = {}
    wanted = list(dict.fromkeys(names))
    table = settings().config_table
    for start in range(0, len(wanted), 100):
        request = {table: {"Keys": [_key(account_pk(account), f"{kind}#{n}") for n in wanted[start : start + 100]]}}
        while request:
            out = _tenant_ddb(account).batch_get_item(RequestItems=request)
            for item in out.get("Responses", {}).get(table, []):
                found[item["sk"]["S"].split("#", 1)[1]] = decode(item)
            request = out.get("UnprocessedKeys") or {}
    return found


def list_scoped(kind: str, account: str) -> list[dict[str, Any]]:
    out = _ddb().query(
        TableName=settings().config_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": account_pk(account)}, ":prefix": {"S": f"{kind}#"}},
    )
    return [decode(item) for item in out.get("Items", [])]


def delete_scoped(kind: str, account: str, name: str) -> bool:
    out = _ddb().delete_item(
        TableName=settings().config_table,
        Key=_key(account_pk(account), f"{kind}#{name}"),
        ReturnValues="ALL_OLD",
    )
    _cache.invalidate((kind, account, name))
    return "Attributes" in out


def set_client_verified_domain(account: str, name: str, domain: str | None) -> None:
    """Put or take the client on the ByVerifiedDomain index, the only way routing finds custom domains."""
    kwargs: dict[str, Any] = {
        "TableName": settings().config_table,
        "Key": _key(account_pk(account), f"CLIENT#{name}"),
        "ConditionExpression": "attribute_exists(pk)",
    }
    if domain:
        kwargs["UpdateExpression"] = "SET verified_domain = :d"
        kwargs["ExpressionAttributeValues"] = {":d": {"S": domain}}
    else:
        kwargs["UpdateExpression"] = "REMOVE verified_domain"
    _ddb().update_item(**kwargs)
    _cache.clear()


def client_by_verified_domain(domain: str) -> tuple[str, dict[str, Any]] | None:
    """(account, client) for a verified custom domain: one Query on the sparse index."""

    def load():
        out = _ddb().query(
            TableName=settings().config_table,
            IndexName="ByVerifiedDomain",
            KeyConditionExpression="verified_domain = :d",
            ExpressionAttributeValues={":d": {"S": domain}},
            Limit=2,
        )
        items = out.get("Items", [])
        if len(items) != 1:
            return None  # none, or an inconsistent double claim: route to nobody
        return items[0]["pk"]["S"].removeprefix("ACCOUNT#"), decode(items[0])

    return _cache.get_or_load(("DOMAIN-ROUTE", domain), load)


# --- API keys --------------------------------------------------------------------


def put_api_key(key_hash: str, doc: dict[str, Any]) -> None:
    _ddb().put_item(
        TableName=settings().config_table,
        Item=encode(
            doc,
            pk=f"APIKEY#{key_hash}",
            sk="APIKEY",
            gsi1pk=account_pk(doc["account"]),
            gsi1sk=f"APIKEY#{doc['key_id']}",
        ),
    )
    _cache.invalidate(("APIKEY", key_hash))


def get_api_key(key_hash: str) -> dict[str, Any] | None:
    def load():
        out = _ddb().get_item(TableName=settings().config_table, Key=_key(f"APIKEY#{key_hash}", "APIKEY"))
        doc = decode(out.get("Item"))
        if doc is not None:
            doc["key_hash"] = key_hash
        return doc

    return _cache.get_or_load(("APIKEY", key_hash), load)


def list_api_keys(account: str) -> list[dict[str, Any]]:
    items = _query_index("ByAccount", "gsi1pk", account_pk(account), sk_prefix="APIKEY#", raw=True)
    docs = []
    for item in items:
        doc = decode(item)
        doc["key_hash"] = item["pk"]["S"].removeprefix("APIKEY#")
        docs.append(doc)
    return docs


# --- domain claims ---------------------------------------------------------------


def claim_domain(domain: str, doc: dict[str, Any]) -> bool:
    """Claim a custom domain for one client; False when another client holds it."""
    return _put_domain(domain, doc, "attribute_not_exists(pk)")


def put_domain(domain: str, doc: dict[str, Any], *, must_exist: bool = False) -> bool:
    """Store a claim's new state. With must_exist, a claim removed meanwhile
    stays removed (False) instead of coming back to life."""
    return _put_domain(domain, doc, "attribute_exists(pk)" if must_exist else None)


def _put_domain(domain: str, doc: dict[str, Any], condition: str | None) -> bool:
    ddb = _ddb()
    kwargs: dict[str, Any] = {
        "TableName": settings().config_table,
        "Item": encode(doc, pk=f"DOMAIN#{domain}", sk="DOMAIN", gsi1pk=account_pk(doc["account"]), gsi1sk=f"DOMAIN#{domain}"),
    }
    if condition:
        kwargs["ConditionExpression"] = condition
    try:
        ddb.put_item(**kwargs)
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    finally:
        _cache.invalidate(("DOMAIN-STATE", domain))


def get_domain(domain: str) -> dict[str, Any] | None:
    out = _ddb().get_item(TableName=settings().config_table, Key=_key(f"DOMAIN#{domain}", "DOMAIN"))
    return decode(out.get("Item"))


def domain_status(domain: str) -> str | None:
    """The claim's state, cached: routing asks it on every miss, so an unknown
    host must not cost a read per request."""

    def load() -> str | None:
        doc = get_domain(domain)
        return None if doc is None else str(doc.get("status"))

    return _cache.get_or_load(("DOMAIN-STATE", domain), load)


def list_domains(account: str | None = None) -> list[dict[str, Any]]:
    if account:
        return _query_index("ByAccount", "gsi1pk", account_pk(account), sk_prefix="DOMAIN#")
    kwargs: dict[str, Any] = {
        "TableName": settings().config_table,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": "DOMAIN#"}},
    }
    docs: list[dict[str, Any]] = []
    while True:  # a filtered Scan pages by items read, not items matched
        out = _ddb().scan(**kwargs)
        docs.extend(decode(item) for item in out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            return docs
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def delete_domain(domain: str) -> None:
    _ddb().delete_item(TableName=settings().config_table, Key=_key(f"DOMAIN#{domain}", "DOMAIN"))
    _cache.invalidate(("DOMAIN-STATE", domain))


RETIRED_CERTIFICATES = "CERTIFICATES#RETIRED"


def retire_certificate(arn: str, doc: dict[str, Any]) -> None:
    """Remember a removed domain's certificate that could not be deleted yet
    (API Gateway still held it); the domains function deletes it later."""
    _ddb().put_item(TableName=settings().config_table, Item=encode(doc, pk=RETIRED_CERTIFICATES, sk=arn))


def retired_certificates() -> list[str]:
    items = _ddb().query(
        TableName=settings().config_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": RETIRED_CERTIFICATES}},
    ).get("Items", [])
    return [item["sk"]["S"] for item in items]


def forget_retired_certificate(arn: str) -> None:
    _ddb().delete_item(TableName=settings().config_table, Key=_key(RETIRED_CERTIFICATES, arn))


def delete_raw(pk: str, sk: str) -> None:
    _ddb().delete_item(TableName=settings().config_table, Key=_key(pk, sk))


# --- helpers ---------------------------------------------------------------------


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _query_index(index: str, hash_name: str, hash_value: str, *, sk_prefix: str | None = None, raw: bool = False):
    condition = f"{hash_name} = :h"
    values: dict[str, Any] = {":h": {"S": hash_value}}
    if sk_prefix:
        condition += " AND begins_with(gsi1sk, :p)"
        values[":p"] = {"S": sk_prefix}
    kwargs = {
        "TableName": settings().config_table,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    items: list[dict[str, Any]] = []
    while True:
        out = _ddb().query(**kwargs)
        items.extend(out.get("Items", []))
        if "LastEvaluatedKey" not in out:
            break
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return items if raw else [decode(item) for item in items]


def invalidate_all() -> None:
    _cache.clear()
