"""Domains: the HTTPS hosts a client is reached at, provisioned with ACM,
API Gateway custom domain names and Route 53.

Two kinds of domain share one life cycle:

- ``account``: ``*.{account}.{api_domain}``, one per account, serves every
  default host ``{client}.{account}.{api_domain}``. Its certificate is validated
  through the platform's hosted zone (we write the CNAME), and an alias record
  points the wildcard at the API Gateway domain. Needs SMARTER_HOSTED_ZONE_ID.
- ``custom``: a client's own domain (``api.acme.com``). Its owner proves control
  by creating ACM's validation CNAME; once the certificate is issued we map the
  domain and set the client's ``verified_domain``, the only thing routing trusts.

Every domain has a claim item ``DOMAIN#{name}`` (one client per domain) whose
status walks::

    requested -> pending_validation -> issued -> verified --remove--> removed
                                   \\-> failed (certificate failed, or a conflict)

``advance`` moves a claim as far as AWS allows right now and is idempotent, so
``smarter apply``, the ``smarter domain`` commands and the scheduled domains
function all share it. Removal takes routing away first, then the AWS
resources, then the claim, so the domain can be claimed again.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from smarter.config import settings
from smarter.errors import BadRequest, NotFound, SmarterError
from smarter.store import aws, storage
from smarter.tenancy import hosts
from smarter.tenancy.auth import iso, now

from smarter_admin.domain_states import FAILED, ISSUED, OPEN, PENDING, REMOVED, REQUESTED, VERIFIED  # noqa: E402,F401 (re-exported)

# ACM statuses from which a certificate never becomes ISSUED.
ACM_FAILED = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED", "INACTIVE")
NO_BASE_PATH = "(none)"


class DomainConflict(SmarterError):
    status = 409
    type = "conflict"


class DomainsNotConfigured(SmarterError):
    status = 500
    type = "not_configured"


@dataclass(frozen=True)
class DomainSettings:
    api_domain: str
    hosted_zone_id: str  # Route 53 zone of api_domain; "" turns account provisioning off
    rest_api_id: str  # the stack's API, target of every base path mapping
    stage: str


def domain_settings() -> DomainSettings:
    return DomainSettings(
        api_domain=settings().api_domain,
        hosted_zone_id=os.environ.get("SMARTER_HOSTED_ZONE_ID", "").strip().removeprefix("/hostedzone/"),
        rest_api_id=os.environ.get("SMARTER_REST_API_ID", "").strip(),
        stage=os.environ.get("SMARTER_API_STAGE", "").strip() or "live",
    )


def provisioning_enabled() -> bool:
    """Default hosts are provisioned only where the platform owns api_domain's zone."""
    return bool(domain_settings().hosted_zone_id)


def account_domain(account: str) -> str:
    return f"*.{account}.{domain_settings().api_domain}"


def normalize(raw: str) -> str:
    """Lower case, one trailing dot (a fully qualified name) dropped, IDN as punycode."""
    name = (raw or "").strip().lower().removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadRequest(f"{raw!r} is not a valid internationalized domain name") from None
    return name


def validate_custom_domain(raw: str) -> str:
    name = normalize(raw)
    if not hosts.is_domain_name(name):
        raise BadRequest(
            f"{raw!r} is not a domain name: use two or more labels of letters, digits and '-' "
            "(no scheme, port, path or wildcard), e.g. api.acme.com"
        )
    api_domain = domain_settings().api_domain
    if name == api_domain or name.endswith("." + api_domain):
        raise BadRequest(
            f"{name} is part of the platform's domain {api_domain}; clients are already served at "
            f"{{client}}.{{account}}.{api_domain} and cannot claim names under it"
        )
    return name


# --- what the CLI, `smarter apply` and the scheduled function call ------------------


def add_custom_domain(account: str, client: str, raw_domain: str, *, wait_seconds: float = 30) -> dict[str, Any]:
    """Claim a domain for a client and request its certificate; the returned
    claim carries the validation records the domain's owner must create."""
    name = validate_custom_domain(raw_domain)
    with _aws_errors(name):
        return _add_custom_domain(account, client, name, wait_seconds)


def _add_custom_domain(account: str, client: str, name: str, wait_seconds: float) -> dict[str, Any]:
    if storage.get_scoped_item("CLIENT", account, client) is None:
        raise NotFound(f"no LLM client {client!r} in account {account}")
    existing = storage.get_domain(name)
    if existing is not None:
        if (existing.get("account"), existing.get("client")) != (account, client):
            raise DomainConflict(f"{name} is already claimed by another LLM client; a domain serves one client")
        if existing["status"] != FAILED:
            return advance(existing, wait_seconds=wait_seconds)  # adding again shows where it stands
        _delete_certificate(existing.get("certificate_arn"))  # a failed claim starts over
        doc = _new_claim(name, "custom", account, client)
        storage.put_domain(name, doc)
        return advance(doc, wait_seconds=wait_seconds)
    held = [d["domain"] for d in storage.list_domains(account) if d.get("kind") == "custom" and d.get("client") == client]
    if held:
        raise DomainConflict(f"{client} already has the custom domain {held[0]}; remove it first (one custom domain per client)")
    doc = _new_claim(name, "custom", account, client)
    if not storage.claim_domain(name, doc):
        raise DomainConflict(f"{name} is already claimed by another LLM client; a domain serves one client")
    return advance(doc, wait_seconds=wait_seconds)


def verify(raw_domain: str) -> dict[str, Any]:
    doc = get(raw_domain)
    return advance(doc)


def verify_pending() -> list[dict[str, Any]]:
    """Advance every open claim; one failing domain does not stop the others."""
    results = []
    for doc in storage.list_domains():
        if doc.get("status") in OPEN:
            results.append(_advance_reporting_errors(doc))
    return results


def get(raw_domain: str) -> dict[str, Any]:
    name = normalize(raw_domain)
    doc = storage.get_domain(name)
    if doc is None:
        raise NotFound(f"no domain {name} is claimed; add it with `smarter domain add CLIENT {name}`")
    return doc


def list_domains(account: str | None = None) -> list[dict[str, Any]]:
    return sorted(storage.list_domains(account), key=lambda d: (d.get("account", ""), d.get("kind", ""), d["domain"]))


def remove(raw_domain: str) -> dict[str, Any]:
    doc = get(raw_domain)
    with _aws_errors(doc["domain"]):
        return _remove(doc)


def remove_client_domains(account: str, client: str) -> list[dict[str, Any]]:
    """Before a client is deleted: its custom domain goes with it."""
    with _aws_errors(client):
        return [_remove(d) for d in storage.list_domains(account) if d.get("kind") == "custom" and d.get("client") == client]


def on_account_applied(account: str) -> str | None:
    """The `smarter apply` hook: provision the account's default hosts when the
    platform owns the zone. Never fails the apply; the scheduled function retries."""
    if not provisioning_enabled():
        return None
    try:
        doc = provision_account(account)
    except SmarterError as exc:
        return f"default hosts not provisioned yet ({exc.message}); the domains function retries"
    return f"default hosts {doc['domain']}: {doc['status']}"


def provision_account(account: str, *, wait_seconds: float = 10) -> dict[str, Any]:
    """Claim and advance `*.{account}.{api_domain}` (idempotent)."""
    zone = domain_settings().hosted_zone_id
    if not zone:
        raise DomainsNotConfigured("SMARTER_HOSTED_ZONE_ID is not set: default hosts need the Route 53 zone of the API domain")
    name = account_domain(account)
    with _aws_errors(name):
        doc = storage.get_domain(name)
        if doc is None:
            doc = _new_claim(name, "account", account, None, hosted_zone_id=zone)
            if not storage.claim_domain(name, doc):
                doc = storage.get_domain(name) or doc
    return advance(doc, wait_seconds=wait_seconds)


def deprovision_account(account: str) -> list[dict[str, Any]]:
    """Remove every domain of an account: its default hosts and its clients' custom domains."""
    with _aws_errors(account):
        return [_remove(doc) for doc in storage.list_domains(account)]


def reconcile() -> dict[str, Any]:
    """The scheduled run: provision default hosts of accounts that lack them,
    advance every open claim, delete certificates of removed domains that
    API Gateway still held at removal."""
    docs = storage.list_domains()
    results: list[dict[str, Any]] = []
    if provisioning_enabled():
        provisioned = {d["account"] for d in docs if d.get("kind") == "account"}
        for account in storage.list_accounts():
            if account["number"] not in provisioned:
                results.append(_reporting_errors(account_domain(account["number"]), lambda n=account["number"]: provision_account(n, wait_seconds=0)))
    for doc in docs:
        if doc.get("status") in OPEN:
            results.append(_advance_reporting_errors(doc))
    swept = _reporting_errors("retired certificates", lambda: {"deleted": delete_retired_certificates()})
    return {
        "advanced": len(results),
        "states": dict(Counter(r["status"] for r in results)),
        "errors": [{"domain": r["domain"], "error": r["error"]} for r in (*results, swept) if r.get("error")],
        "retired_certificates_deleted": swept.get("deleted", 0),
    }


# --- the state machine ---------------------------------------------------------------


def advance(doc: dict[str, Any], *, wait_seconds: float = 0) -> dict[str, Any]:
    """Move one claim as far as AWS allows now. AWS errors are recorded on the
    claim (its state is kept, so a later run retries) and raised."""
    if doc.get("status") not in OPEN:
        return doc
    doc = dict(doc)
    try:
        return _advance(doc, wait_seconds)
    except (ClientError, BotoCoreError) as exc:
        doc["message"] = _describe_error(exc)
        with _aws_errors(doc["domain"]):
            _save(doc)
        raise SmarterError(f"{doc['domain']}: {doc['message']}") from None


def _advance(doc: dict[str, Any], wait_seconds: float) -> dict[str, Any]:
    if not doc.get("certificate_arn"):
        doc["certificate_arn"] = _request_certificate(doc)
        if not _save(doc):
            _delete_certificate(doc["certificate_arn"])  # removed while we asked
            return {**doc, "status": REMOVED}
    cert = _describe_certificate(doc["certificate_arn"], wait_seconds)
    if cert is None:
        return _fail(doc, f"the certificate {doc['certificate_arn']} no longer exists in ACM; remove the domain and add it again")
    records = _validation_records(cert)
    if records:
        doc["validation_records"] = records
    if doc["kind"] == "account" and records and not doc.get("validation_records_created"):
        _change_records(doc["hosted_zone_id"], [_cname_change("UPSERT", r) for r in records])
        doc["validation_records_created"] = True
    status = cert["Status"]
    if status in ACM_FAILED:
        reason = cert.get("FailureReason") or "no reason given"
        return _fail(doc, f"ACM certificate {status.lower()}: {reason}")
    if status != "ISSUED":
        doc["status"] = PENDING if records else REQUESTED
        doc["message"] = None if records else "ACM has not published the validation records yet"
        return _saved(doc)
    doc["status"] = ISSUED
    if not _save(doc):
        return {**doc, "status": REMOVED}
    return _map(doc)


def _map(doc: dict[str, Any]) -> dict[str, Any]:
    """Issued -> verified: API Gateway domain name, base path mapping, then DNS
    (account) or the client's verified_domain (custom)."""
    cfg = domain_settings()
    if not cfg.rest_api_id:
        doc["message"] = "the certificate is issued; set SMARTER_REST_API_ID (the stack's ApiId output) to map the domain"
        _save(doc)
        raise DomainsNotConfigured(f"{doc['domain']}: {doc['message']}")
    apigw = aws.client("apigateway")
    name = doc["domain"]
    try:
        gateway_domain = apigw.get_domain_name(domainName=name)
        if gateway_domain.get("regionalCertificateArn") != doc["certificate_arn"]:
            return _fail(doc, f"API Gateway already has a domain name {name} with another certificate; this platform did not create it")
    except apigw.exceptions.NotFoundException:
        gateway_domain = apigw.create_domain_name(
            domainName=name,
            regionalCertificateArn=doc["certificate_arn"],
            endpointConfiguration={"types": ["REGIONAL"]},
            securityPolicy="TLS_1_2",
            # The domains function may map and delete only domain names with this tag (template IAM).
            tags={"smarter:account": doc["account"]},
        )
    try:
        apigw.create_base_path_mapping(domainName=name, restApiId=cfg.rest_api_id, stage=cfg.stage)
    except apigw.exceptions.ConflictException:
        pass  # mapped by an earlier run
    doc["target"] = {"domain_name": gateway_domain["regionalDomainName"], "hosted_zone_id": gateway_domain["regionalHostedZoneId"]}
    if doc["kind"] == "account":
        _change_records(doc["hosted_zone_id"], [_alias_change("UPSERT", name, doc["target"])])
    else:
        try:
            storage.set_client_verified_domain(doc["account"], doc["client"], name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return _fail(doc, f"the LLM client {doc['client']} no longer exists in account {doc['account']}")
    doc.update(status=VERIFIED, verified_at=iso(now()), message=None)
    if _save(doc):
        return doc
    _unroute(doc)  # removed while we mapped it: the removal's routing change wins
    return {**doc, "status": REMOVED}


def _remove(doc: dict[str, Any]) -> dict[str, Any]:
    name = doc["domain"]
    notes: list[str] = []
    _unroute(doc)  # routing first: from here on the domain reaches nobody, whatever fails next
    zone = doc.get("hosted_zone_id")
    if zone and doc.get("target"):
        _delete_records(zone, [_alias_change("DELETE", name, doc["target"])])
    if zone and doc.get("validation_records_created"):
        _delete_records(zone, [_cname_change("DELETE", r) for r in doc.get("validation_records") or []])
    _delete_gateway_domain(name, doc.get("certificate_arn"))
    if not _delete_certificate(doc.get("certificate_arn")):
        storage.retire_certificate(doc["certificate_arn"], {"domain": name, "account": doc["account"], "retired_at": iso(now())})
        notes.append("API Gateway still holds the certificate; the domains function deletes it later")
    storage.delete_domain(name)
    return {**doc, "status": REMOVED, "removed_at": iso(now()), "message": "; ".join(notes) or None}


def _unroute(doc: dict[str, Any]) -> None:
    """Take a custom domain off its client's verified_domain (the routing index)."""
    if doc.get("kind") == "custom" and doc.get("client"):
        item = storage.get_scoped_item("CLIENT", doc["account"], doc["client"])
        if item and item.get("verified_domain", {}).get("S") == doc["domain"]:
            storage.set_client_verified_domain(doc["account"], doc["client"], None)
    storage.invalidate_all()  # this container stops routing now; others within SMARTER_CACHE_TTL


def delete_retired_certificates() -> int:
    deleted = 0
    for arn in storage.retired_certificates():
        if _delete_certificate(arn, attempts=1):
            storage.forget_retired_certificate(arn)
            deleted += 1
    return deleted


# --- AWS calls -------------------------------------------------------------------------


def _request_certificate(doc: dict[str, Any]) -> str:
    tags = [{"Key": "smarter:account", "Value": doc["account"]}]
    if doc.get("client"):
        tags.append({"Key": "smarter:client", "Value": doc["client"]})
    # Same claim, same token: a request retried after a lost answer returns the
    # same certificate instead of a second one; a new claim gets a new token.
    token = doc.get("request_token") or uuid.uuid4().hex
    out = aws.client("acm").request_certificate(DomainName=doc["domain"], ValidationMethod="DNS", IdempotencyToken=token, Tags=tags)
    return out["CertificateArn"]


def _describe_certificate(arn: str, wait_seconds: float) -> dict[str, Any] | None:
    """ACM publishes the validation records a few seconds after the request."""
    acm = aws.client("acm")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        except acm.exceptions.ResourceNotFoundException:
            return None
        if cert["Status"] != "PENDING_VALIDATION" or _validation_records(cert) or time.monotonic() >= deadline:
            return cert
        time.sleep(2)


def _validation_records(cert: dict[str, Any]) -> list[dict[str, str]]:
    records = []
    for option in cert.get("DomainValidationOptions") or []:
        record = option.get("ResourceRecord")
        if record and option.get("ValidationMethod", "DNS") == "DNS":
            entry = {"name": record["Name"], "type": record["Type"], "value": record["Value"]}
            if entry not in records:  # a name and its wildcard share one record
                records.append(entry)
    return records


def _delete_certificate(arn: str | None, *, attempts: int = 3) -> bool:
    """True when the certificate is gone; False while API Gateway still holds it."""
    if not arn:
        return True
    acm = aws.client("acm")
    for attempt in range(1, attempts + 1):
        try:
            acm.delete_certificate(CertificateArn=arn)
            return True
        except acm.exceptions.ResourceNotFoundException:
            return True
        except acm.exceptions.ResourceInUseException:
            # API Gateway lets go of a deleted domain name's certificate after a moment.
            if attempt < attempts:
                time.sleep(2 * attempt)
    return False


def _delete_gateway_domain(name: str, certificate_arn: str | None) -> None:
    """Delete the mapping and the domain name, but only ours (same certificate)."""
    apigw = aws.client("apigateway")
    try:
        found = apigw.get_domain_name(domainName=name)
    except apigw.exceptions.NotFoundException:
        return
    if not certificate_arn or found.get("regionalCertificateArn") != certificate_arn:
        return
    try:
        apigw.delete_base_path_mapping(domainName=name, basePath=NO_BASE_PATH)
    except apigw.exceptions.NotFoundException:
        pass
    try:
        apigw.delete_domain_name(domainName=name)
    except apigw.exceptions.NotFoundException:
        pass


def _change_records(zone: str, changes: list[dict[str, Any]]) -> None:
    aws.client("route53").change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Comment": "smarter domains", "Changes": changes}
    )


def _delete_records(zone: str, changes: list[dict[str, Any]]) -> None:
    """One change per batch, so a record already gone does not keep the others."""
    route53 = aws.client("route53")
    for change in changes:
        try:
            _change_records(zone, [change])
        except route53.exceptions.InvalidChangeBatch:
            pass  # not there (any more)


def _cname_change(action: str, record: dict[str, str]) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {"Name": record["name"], "Type": record["type"], "TTL": 300, "ResourceRecords": [{"Value": record["value"]}]},
    }


def _alias_change(action: str, name: str, target: dict[str, str]) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "A",
            "AliasTarget": {"DNSName": target["domain_name"], "HostedZoneId": target["hosted_zone_id"], "EvaluateTargetHealth": False},
        },
    }


# --- claims ------------------------------------------------------------------------------


def _new_claim(name: str, kind: str, account: str, client: str | None, **extra: Any) -> dict[str, Any]:
    stamp = iso(now())
    return {
        "domain": name,
        "kind": kind,
        "account": account,
        "client": client,
        "status": REQUESTED,
        "certificate_arn": None,
        "validation_records": [],
        "target": None,
        "message": None,
        "request_token": uuid.uuid4().hex,
        "requested_at": stamp,
        "updated_at": stamp,
        **extra,
    }


def _save(doc: dict[str, Any]) -> bool:
    """Store the claim unless it was removed meanwhile."""
    doc["updated_at"] = iso(now())
    return storage.put_domain(doc["domain"], doc, must_exist=True)


def _saved(doc: dict[str, Any]) -> dict[str, Any]:
    return doc if _save(doc) else {**doc, "status": REMOVED}


def _fail(doc: dict[str, Any], message: str) -> dict[str, Any]:
    doc.update(status=FAILED, message=message)
    return _saved(doc)


def _describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name} failed: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


@contextlib.contextmanager
def _aws_errors(subject: str) -> Iterator[None]:
    """AWS failures as SmarterError, so the CLI prints one line, not a traceback."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise SmarterError(f"{subject}: {_describe_error(exc)}") from None


def _reporting_errors(name: str, step) -> dict[str, Any]:
    try:
        with _aws_errors(name):
            return step()
    except SmarterError as exc:
        return {"domain": name, "status": "error", "error": exc.message}


def _advance_reporting_errors(doc: dict[str, Any]) -> dict[str, Any]:
    return _reporting_errors(doc["domain"], lambda: advance(doc))
