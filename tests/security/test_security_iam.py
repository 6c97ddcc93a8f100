"""IAM as the boundary between tenants and between tenants and the platform
(issue 10, case 7; issue 30): plugin calls run with credentials assumed per account
(STS AssumeRole with a session policy naming the account, no session tag);
the prompt function cannot read tenants' secrets or query Aurora itself; the
domains function can delete only the certificates and domain names it made.

moto's STS and IAM issue and accept the credentials but do not evaluate
session policies or tag conditions, so what AWS alone enforces is checked
here as documents (the session policy, the template's statements) and
listed in docs/security.md."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
import yaml
from hostile import model_calls, tenant_with
from plugin_fixtures import ACCOUNT, api_connection, api_plugin, upstream  # noqa: F401

from smarter import config

OTHER = "2718-2818-2845"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin_role(aws, monkeypatch):
    """The template's PluginRole, created in moto's IAM, and the function told to use it."""
    from smarter.store import aws as smarter_aws
    from smarter.tenancy import scoped_aws

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
    arn = smarter_aws.client("iam").create_role(RoleName="smarter-plugin", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    monkeypatch.setenv("SMARTER_PLUGIN_ROLE_ARN", arn)
    config.settings.cache_clear()
    scoped_aws.reset()
    calls: list[dict] = []
    smarter_aws.client("sts").meta.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params)))
    yield calls
    scoped_aws.reset()


def _put_secret(account: str, name: str, value: str) -> None:
    from smarter.store import aws

    aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{account}/{name}", SecretString=value)


def _allows(policy: dict, action: str, resource: str, tags: dict[str, str] | None = None) -> bool:
    """A small evaluator for the session policy's Allow statements (actions,
    resource patterns, StringEquals on aws:ResourceTag): what AWS decides for real."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources):
            continue
        conditions = statement.get("Condition", {}).get("StringEquals", {})
        if all((tags or {}).get(key.split("/", 1)[1]) == value for key, value in conditions.items()):
            return True
    return False


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smarter/accounts/{account}/{name}-AbCdEf"
CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:{name}"


# --- the session policy ----------------------------------------------------------------------


def test_case7_the_session_policy_reaches_only_the_accounts_own_secrets():
    from smarter.tenancy.scoped_aws import session_policy

    policy = session_policy(ACCOUNT)
    assert _allows(policy, "secretsmanager:GetSecretValue", SECRET_ARN.format(account=ACCOUNT, name="k"))
    assert not _allows(policy, "secretsmanager:GetSecretValue", SECRET_ARN.format(account=OTHER, name="k"))
    assert not _allows(policy, "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:smarter/providers/openai-AbCdEf")
    # A name that tries to climb out of the prefix is still under it, as an ARN.
    assert not _allows(policy, "secretsmanager:GetSecretValue", SECRET_ARN.format(account=f"{ACCOUNT}x", name="k"))
    assert not _allows(policy, "secretsmanager:PutSecretValue", SECRET_ARN.format(account=ACCOUNT, name="k"))


def test_case7_the_session_policy_reaches_only_aurora_clusters_tagged_with_the_account():
    from smarter.tenancy.scoped_aws import session_policy

    policy = session_policy(ACCOUNT)
    assert _allows(policy, "rds-data:ExecuteStatement", CLUSTER_ARN.format(name="mine"), {"smarter:account": ACCOUNT})
    assert not _allows(policy, "rds-data:ExecuteStatement", CLUSTER_ARN.format(name="theirs"), {"smarter:account": OTHER})
    assert not _allows(policy, "rds-data:ExecuteStatement", CLUSTER_ARN.format(name="untagged"), {})


# --- against moto's STS ------------------------------------------------------------------------


def test_case7_secrets_are_read_with_credentials_assumed_for_the_account(plugin_role):
    from smarter.tenancy import scoped_aws
    from smarter.tenancy.account_secrets import account_secret

    _put_secret(ACCOUNT, "k", "mine")
    assert account_secret(ACCOUNT, "k") == "mine"
    assert len(plugin_role) == 1
    call = plugin_role[0]
    assert call["RoleSessionName"] == f"tenant-{ACCOUNT}"
    assert json.loads(call["Policy"]) == scoped_aws.session_policy(ACCOUNT)
    assert "Tags" not in call  # no caller-chosen tag: the session policy alone narrows the role
    # The client that read it signs with the assumed (temporary) credentials, not the function's:
    # what goes on the wire says so (the key id in the signature's scope, the session token).
    from smarter.store import aws as store_aws

    sent = []

    def on_send(request, **_):
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        sent.append(headers)

    store_aws.events.register("before-send", on_send)
    store_aws.session().register("before-send", on_send)
    try:
        scoped_aws.client("secretsmanager", ACCOUNT).get_secret_value(SecretId=f"smarter/accounts/{ACCOUNT}/k")
    finally:
        store_aws.events.unregister("before-send", on_send)
        store_aws.session().unregister("before-send", on_send)
    [headers] = sent
    assumed = scoped_aws.credentials(ACCOUNT)
    assert f"Credential={assumed['aws_access_key_id']}/" in headers["authorization"]
    assert headers["x-amz-security-token"] == assumed["aws_session_token"]
    identity = scoped_aws.client("sts", ACCOUNT).get_caller_identity()
    assert identity["Arn"].endswith(f":assumed-role/smarter-plugin/tenant-{ACCOUNT}")


def test_case7_credentials_are_cached_per_container_and_account(plugin_role):
    from smarter.tenancy import scoped_aws

    first = scoped_aws.credentials(ACCOUNT)
    assert scoped_aws.credentials(ACCOUNT) == first
    other = scoped_aws.credentials(OTHER)
    assert other["aws_access_key_id"] != first["aws_access_key_id"]
    assert [c["RoleSessionName"] for c in plugin_role] == [f"tenant-{ACCOUNT}", f"tenant-{OTHER}"]
    assert json.loads(plugin_role[1]["Policy"]) == scoped_aws.session_policy(OTHER)


def test_case7_a_prompt_runs_its_plugin_with_the_accounts_credentials(plugin_role, openai_server, upstream):
    _put_secret(ACCOUNT, "catalogue-key", "tok-123")
    upstream.json("/courses", ["ok"])
    tenant = tenant_with(api_connection(base_url=upstream.base_url, authMethod="bearer", secret="catalogue-key"), plugins=[api_plugin()])
    outcome = model_calls(openai_server, tenant, "course_catalogue", {"keyword": "x"})
    assert outcome.entry["outcome"] == "ok"
    assert upstream.seen[0].headers["authorization"] == "Bearer tok-123"
    assert [c["RoleSessionName"] for c in plugin_role] == [f"tenant-{ACCOUNT}"]  # one assumption, the request's account


def test_case7_an_account_cannot_name_another_accounts_secret(aws):
    from smarter.llm.chat import plugin_context
    from smarter.llm.plugins import PluginCallError

    _put_secret(OTHER, "shared", "theirs")
    for name in ("shared", f"../{OTHER}/shared", f"{OTHER}/shared"):
        with pytest.raises(PluginCallError):
            plugin_context(ACCOUNT).secret(name)


# --- the template ---------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else loader.construct_scalar(node)})


@pytest.fixture(scope="module")
def resources():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)["Resources"]


def _statements(resource):
    props = resource["Properties"]
    for policy in props.get("Policies", []):
        document = policy.get("PolicyDocument", policy)
        yield from document["Statement"]


def _text(value) -> str:
    return json.dumps(value)


def test_case7_no_request_function_reads_tenant_secrets_or_queries_aurora_itself(resources):
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert {"PromptFunction", "OpenAIFunction", "PassthroughFunction", "UsageFunction", "DomainsFunction"} <= set(functions)
    for name in functions:
        for statement in _statements(resources[name]):
            if statement["Effect"] != "Allow":
                continue
            if (name, statement.get("Sid")) == ("ConsoleFunction", "CheckConnectionSecretsExist"):
                # The console's apply checks that a connection's Secret exists: metadata, never a value.
                assert statement["Action"] == "secretsmanager:DescribeSecret", statement
                continue
            assert "smarter/accounts" not in _text(statement["Resource"]), (name, statement)
            assert "rds-data" not in _text(statement["Action"]), (name, statement)


def test_case7_the_tenant_role_trusts_only_the_request_functions_and_carries_no_caller_chosen_tag(resources):
    role = resources["PluginRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": [{"GetAtt": "PromptFunctionRole.Arn"}, {"GetAtt": "OpenAIFunctionRole.Arn"},
                                                         {"GetAtt": "PassthroughFunctionRole.Arn"}, {"GetAtt": "McpFunctionRole.Arn"}]}]
    assert [s["Action"] for s in trust] == ["sts:AssumeRole"]  # no sts:TagSession: no tag to choose
    assert "PrincipalTag" not in _text(role["Policies"]) and "RequestTag" not in _text(trust)
    for name in ("PromptFunction", "OpenAIFunction", "PassthroughFunction", "McpFunction"):
        assert resources[name]["Properties"]["Environment"]["Variables"]["SMARTER_PLUGIN_ROLE_ARN"] == {"GetAtt": "PluginRole.Arn"}
        assert "Tags" not in resources[name]["Properties"]


def test_case7_the_domains_function_deletes_only_what_the_platform_tagged(resources):
    statements = {s["Sid"]: s for s in _statements(resources["DomainsFunction"])}
    assert statements["DeleteTenantCertificatesOnly"]["Action"] == "acm:DeleteCertificate"
    assert statements["DeleteTenantCertificatesOnly"]["Condition"] == {"Null": {"aws:ResourceTag/smarter:account": "false"}}
    assert "apigateway:DELETE" in statements["MapAndDeleteTenantDomainNamesOnly"]["Action"]
    assert statements["MapAndDeleteTenantDomainNamesOnly"]["Condition"] == {"Null": {"aws:ResourceTag/smarter:account": "false"}}
    assert statements["NeverThePlatformDomain"]["Effect"] == "Deny"
    assert "/domainnames/${ApiDomain}" in _text(statements["NeverThePlatformDomain"]["Resource"])
    # No other statement of the function can delete a certificate or a domain name.
    for sid, statement in statements.items():
        if statement["Effect"] == "Allow" and sid not in ("DeleteTenantCertificatesOnly", "MapAndDeleteTenantDomainNamesOnly"):
            assert "acm:DeleteCertificate" not in _text(statement["Action"]) and "apigateway:DELETE" not in _text(statement["Action"]), sid
