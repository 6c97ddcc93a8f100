"""Default hosts and custom domains end to end: ACM, API Gateway and Route 53 on
moto's server, the `smarter domain` commands, the scheduled domains function,
and the prompt API routing (or refusing) requests on those hosts.

moto's ACM keeps a DNS-validated certificate PENDING_VALIDATION for
MOTO_ACM_VALIDATION_WAIT seconds (default 60) after the request, then reports
it ISSUED at the next describe. The tests hold certificates pending by raising
that wait, issue them by dropping it, and fail one by setting its status in
moto's backend (moto never fails a certificate on its own).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

import moto.settings
import pytest
import yaml
from support import API_DOMAIN, handler, make_tenant, prompt, smarter_cli

from smarter_local.gateway import LambdaContext

ACCOUNT = "3141-5926-5359"
WILDCARD = f"*.{ACCOUNT}.{API_DOMAIN}"
MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Platform:
    zone_id: str
    rest_api_id: str


@pytest.fixture
def platform(aws, monkeypatch) -> Platform:
    """What the stack hands the domains code: the hosted zone of the API domain
    and the REST API with its live stage."""
    from smarter.store import aws as smarter_aws

    _decode_domain_name_paths(monkeypatch)
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 3600)  # pending until a test issues it
    zone = smarter_aws.client("route53").create_hosted_zone(Name=API_DOMAIN, CallerReference=str(uuid.uuid4()))
    zone_id = zone["HostedZone"]["Id"].split("/")[-1]
    apigw = smarter_aws.client("apigateway")
    api_id = apigw.create_rest_api(name="smarter-api")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName="live")
    monkeypatch.setenv("SMARTER_HOSTED_ZONE_ID", zone_id)
    monkeypatch.setenv("SMARTER_REST_API_ID", api_id)
    monkeypatch.setenv("SMARTER_API_STAGE", "live")
    return Platform(zone_id, api_id)


@pytest.fixture
def client_tenant(platform):
    return make_tenant(ACCOUNT, "customer-support")


def _decode_domain_name_paths(monkeypatch) -> None:
    """moto 5 reads the domain name from the URL path without percent-decoding,
    so `*.{account}.{api_domain}` (sent as %2A...) is never found. AWS decodes it."""
    from moto.apigateway.models import APIGatewayBackend

    def decoding(original):
        @functools.wraps(original)
        def wrapper(self, domain_name, *args, **kwargs):
            return original(self, unquote(domain_name), *args, **kwargs)

        return wrapper

    for name in ("get_domain_name", "delete_domain_name", "create_base_path_mapping", "get_base_path_mappings", "get_base_path_mapping", "delete_base_path_mapping"):
        monkeypatch.setattr(APIGatewayBackend, name, decoding(getattr(APIGatewayBackend, name)))


def issue_certificates(monkeypatch) -> None:
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", -1)


def fail_certificate(arn: str) -> None:
    from moto.acm.models import acm_backends

    acm_backends[MOTO_ACCOUNT][REGION]._certificates[arn].status = "FAILED"


def smarter(*argv: str) -> int:
    from smarter_admin import cli

    return cli.main(list(argv))


def run_scheduled_function() -> dict:
    return handler("domains")({"source": "aws.scheduler"}, LambdaContext("domains"))


def claim(domain: str) -> dict | None:
    from smarter.store import storage

    return storage.get_domain(domain)


def certificate(arn: str) -> dict:
    from smarter.store import aws

    return aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]


def certificate_exists(arn: str) -> bool:
    from smarter.store import aws

    acm = aws.client("acm")
    try:
        acm.describe_certificate(CertificateArn=arn)
        return True
    except acm.exceptions.ResourceNotFoundException:
        return False


def gateway_domain(domain: str) -> dict | None:
    from smarter.store import aws

    apigw = aws.client("apigateway")
    try:
        found = apigw.get_domain_name(domainName=domain)
    except apigw.exceptions.NotFoundException:
        return None
    found["mappings"] = apigw.get_base_path_mappings(domainName=domain).get("items", [])
    return found


def zone_records(zone_id: str) -> dict[tuple[str, str], dict]:
    from smarter.store import aws

    records = aws.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(r["Name"].replace("\\052", "*"), r["Type"]): r for r in records if r["Type"] in ("A", "CNAME")}


def verified_domain_of(account: str, client: str) -> str | None:
    from smarter.store import storage

    item = storage.get_scoped_item("CLIENT", account, client) or {}
    return item.get("verified_domain", {}).get("S")


# --- default hosts: *.{account}.{api_domain} -------------------------------------------


def test_applying_an_account_requests_its_wildcard_certificate_and_creates_the_validation_record(platform):
    from smarter_admin import manifests

    result = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}})
    assert result["result"] == f"applied; default hosts {WILDCARD}: pending_validation"
    doc = claim(WILDCARD)
    assert doc["kind"] == "account" and doc["status"] == "pending_validation"
    cert = certificate(doc["certificate_arn"])
    assert cert["DomainName"] == WILDCARD
    assert cert["DomainValidationOptions"][0]["ValidationMethod"] == "DNS"
    record = doc["validation_records"][0]
    cname = zone_records(platform.zone_id)[(record["name"], "CNAME")]
    assert cname["ResourceRecords"] == [{"Value": record["value"]}]
    assert gateway_domain(WILDCARD) is None  # nothing is mapped before the certificate is issued


def test_reapplying_an_account_does_not_request_a_second_certificate(platform):
    from smarter.store import aws
    from smarter_admin import manifests

    account = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}
    manifests.apply(account)
    manifests.apply(account)
    assert len(aws.client("acm").list_certificates()["CertificateSummaryList"]) == 1


def test_scheduled_function_maps_default_hosts_once_the_certificate_is_issued(client_tenant, platform, monkeypatch):
    issue_certificates(monkeypatch)
    summary = run_scheduled_function()
    assert summary["states"] == {"verified": 1} and summary["errors"] == []
    doc = claim(WILDCARD)
    assert doc["status"] == "verified"
    found = gateway_domain(WILDCARD)
    assert found["regionalCertificateArn"] == doc["certificate_arn"]
    assert found["endpointConfiguration"] == {"types": ["REGIONAL"]}
    assert [(m["restApiId"], m["stage"]) for m in found["mappings"]] == [(platform.rest_api_id, "live")]
    alias = zone_records(platform.zone_id)[(f"{WILDCARD}.", "A")]["AliasTarget"]
    assert alias["DNSName"].rstrip(".") == found["regionalDomainName"] == doc["target"]["domain_name"]
    assert prompt(client_tenant, "Hello").status == 200  # default hosts route by name, no domain lookup


def test_scheduled_function_provisions_accounts_created_before_provisioning_was_configured(aws, platform, monkeypatch):
    monkeypatch.delenv("SMARTER_HOSTED_ZONE_ID")
    make_tenant(ACCOUNT, "customer-support")
    assert claim(WILDCARD) is None
    monkeypatch.setenv("SMARTER_HOSTED_ZONE_ID", platform.zone_id)
    run_scheduled_function()
    assert claim(WILDCARD)["status"] == "pending_validation"


def test_without_a_hosted_zone_applying_an_account_provisions_nothing(aws):
    from smarter.store import aws as smarter_aws
    from smarter_admin import manifests

    result = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}})
    assert result["result"] == "applied"
    assert claim(WILDCARD) is None
    assert smarter_aws.client("acm").list_certificates()["CertificateSummaryList"] == []


def test_deleting_the_account_removes_its_default_hosts_and_custom_domains(client_tenant, platform, monkeypatch, capsys):
    assert smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT) == 0
    issue_certificates(monkeypatch)
    run_scheduled_function()
    arns = [claim(WILDCARD)["certificate_arn"], claim("api.acme.com")["certificate_arn"]]
    capsys.readouterr()

    assert smarter("delete", "account", ACCOUNT) == 0

    out = capsys.readouterr().out
    assert f"domain/{WILDCARD} removed" in out and "domain/api.acme.com removed" in out
    assert claim(WILDCARD) is None and claim("api.acme.com") is None
    assert gateway_domain(WILDCARD) is None and gateway_domain("api.acme.com") is None
    assert not any(certificate_exists(arn) for arn in arns)
    assert zone_records(platform.zone_id) == {}  # alias and validation CNAME both gone


# --- custom domains ------------------------------------------------------------------------


def test_add_claims_the_domain_and_prints_the_validation_record(client_tenant, capsys):
    assert smarter("domain", "add", "customer-support", "API.Acme.com.", "--account", ACCOUNT) == 0
    out = capsys.readouterr().out
    doc = claim("api.acme.com")
    assert doc["status"] == "pending_validation" and doc["client"] == "customer-support"
    record = doc["validation_records"][0]
    assert f"{record['name']}  CNAME  {record['value']}" in out
    assert "smarter domain verify api.acme.com" in out
    assert certificate(doc["certificate_arn"])["DomainName"] == "api.acme.com"


def test_until_acm_publishes_the_validation_record_the_domain_is_requested_and_verify_prints_it_later(client_tenant, monkeypatch, capsys):
    from moto.acm.models import CertBundle

    from smarter_admin import domains

    describe = CertBundle.describe

    def without_records(self):  # what ACM answers in the first seconds after a request
        out = describe(self)
        for option in out["Certificate"].get("DomainValidationOptions", []):
            option.pop("ResourceRecord", None)
        return out

    monkeypatch.setattr(CertBundle, "describe", without_records)
    doc = domains.add_custom_domain(ACCOUNT, "customer-support", "api.acme.com", wait_seconds=0)
    assert (doc["status"], doc["validation_records"]) == ("requested", [])
    assert "not published the validation records yet" in doc["message"]
    monkeypatch.setattr(CertBundle, "describe", describe)

    assert smarter("domain", "verify", "api.acme.com") == 11  # DNS pending

    record = claim("api.acme.com")["validation_records"][0]
    assert f"{record['name']}  CNAME  {record['value']}" in capsys.readouterr().out
    assert claim("api.acme.com")["status"] == "pending_validation"


def test_request_on_a_pending_domain_is_a_404_that_says_it_is_not_verified(client_tenant):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    result = prompt(client_tenant, "Hello", host="api.acme.com")
    assert result.status == 404
    assert result.body["error"]["message"] == "the domain api.acme.com is not verified yet (state: pending_validation)"


def test_verify_before_the_certificate_is_issued_keeps_the_domain_pending(client_tenant, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    assert smarter("domain", "verify", "api.acme.com") == 11  # the exit code names the state
    assert "domain/api.acme.com pending_validation" in capsys.readouterr().out
    assert gateway_domain("api.acme.com") is None
    assert verified_domain_of(ACCOUNT, "customer-support") is None


def test_verify_maps_the_issued_domain_and_the_client_answers_there(client_tenant, platform, monkeypatch, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    issue_certificates(monkeypatch)
    capsys.readouterr()

    assert smarter("domain", "verify", "api.acme.com") == 0

    doc = claim("api.acme.com")
    found = gateway_domain("api.acme.com")
    assert doc["status"] == "verified"
    assert found["regionalCertificateArn"] == doc["certificate_arn"]
    assert [(m["restApiId"], m["stage"], m["basePath"]) for m in found["mappings"]] == [(platform.rest_api_id, "live", "(none)")]
    assert f"api.acme.com.  CNAME  {found['regionalDomainName']}." in capsys.readouterr().out
    assert verified_domain_of(ACCOUNT, "customer-support") == "api.acme.com"
    result = prompt(client_tenant, "Hello", host="api.acme.com")
    assert result.status == 200
    assert result.body["data"]["chat_completion"]["choices"][0]["message"]["content"]
    # The tags the domains function's IAM conditions need (it may delete only what carries them).
    from smarter.store import aws as smarter_aws

    assert smarter_aws.client("apigateway").get_domain_name(domainName="api.acme.com").get("tags") == {"smarter:account": ACCOUNT}
    cert_tags = smarter_aws.client("acm").list_tags_for_certificate(CertificateArn=doc["certificate_arn"])["Tags"]
    assert {"Key": "smarter:account", "Value": ACCOUNT} in cert_tags


def test_scheduled_function_verifies_every_pending_custom_domain(platform, monkeypatch):
    first = make_tenant(ACCOUNT, "customer-support")
    second = make_tenant("2718-2818-2845", "sales")
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", first.account)
    smarter("domain", "add", "sales", "chat.example.org", "--account", second.account)
    issue_certificates(monkeypatch)

    summary = run_scheduled_function()

    assert summary["states"] == {"verified": 4}  # two default hosts, two custom domains
    assert prompt(first, host="api.acme.com").status == 200
    assert prompt(second, host="chat.example.org").status == 200
    assert prompt(first, host="chat.example.org").status == 403  # a key never crosses accounts


def test_list_shows_every_domain_and_its_state(client_tenant, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    capsys.readouterr()
    assert smarter("domain", "list", "-o", "table") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DOMAIN", "KIND", "STATUS", "ACCOUNT", "CLIENT", "TARGET"]
    assert lines[1].split() == [WILDCARD, "account", "pending_validation", ACCOUNT, "-", "-"]
    assert lines[2].split() == ["api.acme.com", "custom", "pending_validation", ACCOUNT, "customer-support", "-"]


def test_a_second_client_cannot_claim_a_claimed_domain(client_tenant, capsys):
    make_tenant("2718-2818-2845", "sales")
    assert smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT) == 0
    capsys.readouterr()

    assert smarter("domain", "add", "sales", "api.acme.com", "--account", "2718-2818-2845") == 1

    assert "api.acme.com is already claimed by another LLM client" in capsys.readouterr().err
    assert claim("api.acme.com")["client"] == "customer-support"


def test_a_client_has_one_custom_domain_at_a_time(client_tenant, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    assert smarter("domain", "add", "customer-support", "chat.acme.com", "--account", ACCOUNT) == 1
    assert "already has the custom domain api.acme.com" in capsys.readouterr().err
    assert claim("chat.acme.com") is None


def test_adding_the_same_domain_again_shows_its_state_without_a_new_certificate(client_tenant):
    from smarter_admin import domains

    first = domains.add_custom_domain(ACCOUNT, "customer-support", "api.acme.com")
    again = domains.add_custom_domain(ACCOUNT, "customer-support", "api.acme.com")
    assert again["certificate_arn"] == first["certificate_arn"]
    assert again["status"] == "pending_validation"


def test_removed_domain_stops_routing_at_once_and_can_be_claimed_again(client_tenant, platform, monkeypatch, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    issue_certificates(monkeypatch)
    smarter("domain", "verify", "api.acme.com")
    arn = claim("api.acme.com")["certificate_arn"]
    assert prompt(client_tenant, host="api.acme.com").status == 200  # the route is now cached

    assert smarter("domain", "remove", "api.acme.com") == 0

    assert "domain/api.acme.com removed" in capsys.readouterr().out
    result = prompt(client_tenant, host="api.acme.com")
    assert result.status == 404
    assert result.body["error"]["message"] == "no LLM client is served at api.acme.com"
    assert verified_domain_of(ACCOUNT, "customer-support") is None
    assert gateway_domain("api.acme.com") is None
    assert not certificate_exists(arn)
    assert claim("api.acme.com") is None
    make_tenant(ACCOUNT, "sales")
    assert smarter("domain", "add", "sales", "api.acme.com", "--account", ACCOUNT) == 0


def test_failed_certificate_marks_the_domain_failed_and_adding_again_starts_over(client_tenant, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    old_arn = claim("api.acme.com")["certificate_arn"]
    fail_certificate(old_arn)

    assert smarter("domain", "verify", "api.acme.com") == 13

    assert claim("api.acme.com")["status"] == "failed"
    assert "ACM certificate failed" in capsys.readouterr().out
    assert prompt(client_tenant, host="api.acme.com").body["error"]["message"] == "the domain api.acme.com is not verified yet (state: failed)"
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    doc = claim("api.acme.com")
    assert doc["status"] == "pending_validation" and doc["certificate_arn"] != old_arn
    assert not certificate_exists(old_arn)


def test_deleting_a_client_removes_its_custom_domain(client_tenant, monkeypatch):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    issue_certificates(monkeypatch)
    smarter("domain", "verify", "api.acme.com")
    assert smarter("delete", "client", "customer-support", "--account", ACCOUNT) == 0
    assert claim("api.acme.com") is None
    assert gateway_domain("api.acme.com") is None


def test_issued_domain_waits_for_the_rest_api_id_and_says_so(client_tenant, monkeypatch, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    issue_certificates(monkeypatch)
    monkeypatch.delenv("SMARTER_REST_API_ID")
    assert smarter("domain", "verify", "api.acme.com") == 1
    assert "set SMARTER_REST_API_ID" in capsys.readouterr().err
    assert claim("api.acme.com")["status"] == "issued"
    assert prompt(client_tenant, host="api.acme.com").status == 404


def test_remove_of_an_unknown_domain_is_a_clear_error(aws, capsys):
    assert smarter("domain", "remove", "nope.example.org") == 4  # not found
    assert "no domain nope.example.org is claimed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("https://api.acme.com", "is not a domain name"),
        ("api.acme.com:8443", "is not a domain name"),
        ("*.acme.com", "is not a domain name"),
        ("localhost", "is not a domain name"),
        ("203.0.113.7", "is not a domain name"),
        ("[2001:db8::1]", "is not a domain name"),
        ("api-.acme.com", "is not a domain name"),
        ("api..acme.com", "is not a domain name"),
        ("a" * 64 + ".com", "is not a domain name"),
        (API_DOMAIN, "part of the platform's domain"),
        (f"sales.{ACCOUNT}.{API_DOMAIN}", "part of the platform's domain"),
        (f"evil.{API_DOMAIN}", "part of the platform's domain"),
    ],
)
def test_bad_or_platform_domains_are_refused(client_tenant, capsys, domain, words):
    assert smarter("domain", "add", "customer-support", domain, "--account", ACCOUNT) == 1
    assert words in capsys.readouterr().err
    from smarter.store import storage

    assert [d["kind"] for d in storage.list_domains()] == ["account"]


def test_unicode_domain_is_claimed_as_punycode(client_tenant):
    from smarter_admin import domains

    assert domains.add_custom_domain(ACCOUNT, "customer-support", "bücher.example")["domain"] == "xn--bcher-kva.example"


def test_adding_a_domain_for_an_unknown_client_is_refused(client_tenant, capsys):
    assert smarter("domain", "add", "nobody", "api.acme.com", "--account", ACCOUNT) == 4  # not found
    assert "no LLM client 'nobody'" in capsys.readouterr().err


def test_a_certificate_api_gateway_still_holds_is_deleted_by_a_later_run(client_tenant, monkeypatch, capsys):
    from moto.acm.models import AWSCertificateManagerBackend
    from moto.core.exceptions import JsonRESTError

    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    issue_certificates(monkeypatch)
    smarter("domain", "verify", "api.acme.com")
    arn = claim("api.acme.com")["certificate_arn"]

    deletes = AWSCertificateManagerBackend.delete_certificate

    def in_use(self, arn):
        raise JsonRESTError("ResourceInUseException", f"Certificate {arn} is in use.")

    monkeypatch.setattr(AWSCertificateManagerBackend, "delete_certificate", in_use)
    sleeps = []
    monkeypatch.setattr("smarter_admin.domains.time.sleep", sleeps.append)
    capsys.readouterr()

    assert smarter("domain", "remove", "api.acme.com") == 0

    assert "API Gateway still holds the certificate" in capsys.readouterr().out
    assert claim("api.acme.com") is None and certificate_exists(arn)
    assert sleeps == [2, 4]  # a short wait for API Gateway to let go, then it is left for later
    monkeypatch.setattr(AWSCertificateManagerBackend, "delete_certificate", deletes)  # API Gateway let go
    summary = run_scheduled_function()
    assert summary["retired_certificates_deleted"] == 1
    assert not certificate_exists(arn)
    assert run_scheduled_function()["retired_certificates_deleted"] == 0


# --- waiting with progress (the console script, in a child process) ------------------------


def test_add_wait_follows_the_domain_until_moto_issues_it_and_exits_0(client_tenant, platform, monkeypatch):
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 2)  # moto issues the certificate 2 s after the request

    result = smarter_cli("domain", "add", "customer-support", "api.acme.com", "--wait", "--timeout", "60", "--account", ACCOUNT, env={"SMARTER_DOMAIN_POLL_SECONDS": "1"})

    assert result.code == 0, result.err
    progress = result.err.splitlines()
    assert progress[0] == "domain/api.acme.com: DNS pending; waiting for ACM to see the validation record and issue the certificate"
    assert re.fullmatch(r"domain/api\.acme\.com: verified \(after \d+s\)", progress[-1])  # with the time it took
    assert "Traceback" not in result.err
    assert result.out.startswith("domain/api.acme.com verified (client customer-support")
    assert "api.acme.com.  CNAME  " in result.out
    assert claim("api.acme.com")["status"] == "verified"


def test_verify_wait_gives_up_at_the_timeout_with_the_exit_code_of_the_state(client_tenant, monkeypatch):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)

    result = smarter_cli("domain", "verify", "api.acme.com", "--wait", "--timeout", "2", "-o", "json", env={"SMARTER_DOMAIN_POLL_SECONDS": "1"})

    assert result.code == 11  # still waiting for DNS
    assert json.loads(result.out)[0]["status"] == "pending_validation"
    assert "DNS pending" in result.err


def test_domain_outputs_for_scripts(client_tenant, capsys):
    smarter("domain", "add", "customer-support", "api.acme.com", "--account", ACCOUNT)
    capsys.readouterr()
    assert smarter("domain", "list", "-o", "name") == 0
    assert capsys.readouterr().out.splitlines() == [f"domain/{WILDCARD}", "domain/api.acme.com"]
    assert smarter("domain", "verify", "api.acme.com", "-o", "yaml") == 11
    assert yaml.safe_load(capsys.readouterr().out)[0]["validation_records"][0]["type"] == "CNAME"
