"""Tenant isolation enforced by AWS, evaluated as IAM evaluates it (issue 30, point 1).

The request functions read an account's items, sessions and secrets with
credentials assumed for the request's account (store/tenant_aws.py): the
tenant role's policy from template.yaml, narrowed by the session policy the
code sent to STS. moto's STS issues those credentials but evaluates no
policy, so every AWS request the code actually sent (captured from the wire:
the access key that signed it, the operation, the keys it names) is given,
with the role's policy and that session's policy, to an IAM policy simulator:
@cloud-copilot/iam-simulate (npm, tests/iam_sim), which evaluates identity
policies, session policies and condition operators (`ForAllValues`,
`dynamodb:LeadingKeys`) as IAM documents them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support import make_tenant, prompt

from smarter import config

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tests" / "iam_sim"
A, B = "1111-1111-1111", "2222-2222-2222"
AWS_ACCOUNT, REGION = "123456789012", "us-east-1"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed for the IAM simulator (tests/iam_sim)")


@pytest.fixture(scope="session")
def simulator():
    if not (SIM / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        subprocess.run(["npm", "ci" if (SIM / "package-lock.json").exists() else "install", "--no-audit", "--no-fund"],
                       cwd=SIM, check=True, capture_output=True, timeout=300)

    def decide(simulations: list[dict]) -> list[str]:
        out = subprocess.run(["node", "simulate.mjs"], cwd=SIM, input=json.dumps(simulations), capture_output=True, text=True, timeout=120, check=True)
        results = json.loads(out.stdout)
        assert all("decision" in r for r in results), results
        return [r["decision"] for r in results]

    return decide


# --- the template's policies, with the stack's names filled in -------------------------------


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else loader.construct_scalar(node)})


def _arns() -> dict[str, str]:
    s = config.settings()
    tables = {"ConfigTable": s.config_table, "SessionsTable": s.sessions_table, "JournalTable": s.journal_table, "UsageTable": s.usage_table}
    out = {f"{k}.Arn": f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{v}" for k, v in tables.items()}
    for fn in ("PromptFunction", "OpenAIFunction", "PassthroughFunction", "McpFunction"):
        out[f"{fn}Role.Arn"] = f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-{fn}Role-X"
    out["PluginRole.Arn"] = TENANT_ROLE
    return out


TENANT_ROLE = f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-tenant/smarter/PluginRole-X"


def _resolve(value):
    if isinstance(value, dict) and set(value) == {"GetAtt"}:
        return _arns()[value["GetAtt"]]
    if isinstance(value, dict) and set(value) == {"Sub"}:
        text = value["Sub"]
        for name, arn in {**_arns(), "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": AWS_ACCOUNT, "AWS::StackName": "smarter"}.items():
            text = text.replace("${" + name + "}", arn)
        return text
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


@pytest.fixture(scope="module")
def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)["Resources"]


def tenant_role_policy(template) -> dict:
    return _resolve(template["PluginRole"]["Properties"]["Policies"][0]["PolicyDocument"])


def function_policy(template, name: str) -> dict:
    return _resolve(template[name]["Properties"]["Policies"][0])


# --- the requests the code sends ---------------------------------------------------------------


@pytest.fixture
def tenant_role(aws, monkeypatch):
    """The tenant role in moto's IAM, the functions told to use it, and every
    AssumeRole and every AWS request made with assumed credentials captured."""
    from smarter.store import aws as store_aws
    from smarter.store import tenant_aws

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{AWS_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    arn = store_aws.client("iam").create_role(RoleName="tenant", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    monkeypatch.setenv("SMARTER_PLUGIN_ROLE_ARN", arn)
    config.settings.cache_clear()
    tenant_aws.reset()
    state = {"assumed": [], "sent": [], "sessions": {}}

    def assumed(params, **_):
        state["assumed"].append(dict(params))

    def sent(request, **_):
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        state["sent"].append({"key": key, "target": target, "body": json.loads(body) if body.startswith("{") else {}})

    store_aws.client("sts").meta.events.register("provide-client-params.sts.AssumeRole", assumed)
    store_aws.session().register("before-send", sent)  # botocore's clients
    store_aws.events.register("before-send", sent)  # the request path's (awsjson)
    yield state
    store_aws.events.unregister("before-send", sent)
    store_aws.session().unregister("before-send", sent)
    tenant_aws.reset()


def _session_of(state, access_key: str) -> tuple[str, dict] | None:
    """(account, session policy) of the assumed credentials that signed a request."""
    from smarter.store import tenant_aws

    for account, (_, creds) in tenant_aws._credentials.items():
        if creds["aws_access_key_id"] == access_key:
            call = next(c for c in state["assumed"] if c["RoleSessionName"] == f"tenant-{account}")
            return account, json.loads(call["Policy"])
    return None


def _iam_request(sent: dict) -> tuple[str, str, dict]:
    """(action, resource ARN, context) of a captured request, as IAM sees it."""
    service, _, operation = sent["target"].partition(".")
    body = sent["body"]
    if service.startswith("DynamoDB"):
        if operation == "BatchGetItem":
            [(table, request)] = body["RequestItems"].items()
            keys = [k["pk"]["S"] for k in request["Keys"]]
        elif operation == "Query":
            table, keys = body["TableName"], [body["ExpressionAttributeValues"][":pk"]["S"]]
        else:
            table, keys = body["TableName"], [body["Key"]["pk"]["S"]]
        return f"dynamodb:{operation}", f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{table}", {"dynamodb:LeadingKeys": sorted(set(keys))}
    assert service == "secretsmanager", sent
    return f"secretsmanager:{operation}", f"arn:aws:secretsmanager:{REGION}:{AWS_ACCOUNT}:secret:{body['SecretId']}-AbCdEf", {}


def _decisions(simulator, template, state, requests: list[dict]) -> list[tuple[str, str]]:
    role = tenant_role_policy(template)
    simulations, shown = [], []
    for sent in requests:
        account, policy = _session_of(state, sent["key"])
        action, resource, context = _iam_request(sent)
        simulations.append({"identityPolicies": [role], "sessionPolicy": policy, "action": action, "resource": resource, "context": context,
                            "principal": f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/PluginRole-X/tenant-{account}"})
        shown.append(f"{account}: {action} {context.get('dynamodb:LeadingKeys') or resource}")
    return list(zip(shown, simulator(simulations)))


def _scoped(state) -> list[dict]:
    return [s for s in state["sent"] if _session_of(state, s["key"]) and s["target"].split(".")[0] in ("DynamoDB_20120810", "secretsmanager")]


def _put_secret(account: str, name: str, value: str) -> None:
    from smarter.store import aws

    aws.client("secretsmanager").create_secret(Name=f"smarter/accounts/{account}/{name}", SecretString=value)


# --- the tests -------------------------------------------------------------------------------


def test_a_prompt_reads_its_own_accounts_items_and_sessions_with_scoped_credentials_iam_allows(tenant_role, simulator, template, openai_server):
    tenant = make_tenant(A, "helpdesk")
    first = prompt(tenant, "hello")
    assert prompt(tenant, "again", session_key=first.body["metadata"]["session_key"]).status == 200
    scoped = _scoped(tenant_role)
    targets = {s["target"].split(".")[1] for s in scoped}
    assert {"GetItem", "Query"} <= targets  # the client (and account) items, the session's messages
    decisions = _decisions(simulator, template, tenant_role, scoped)
    assert all(d == "Allowed" for _, d in decisions), decisions
    assert [c["RoleSessionName"] for c in tenant_role["assumed"]] == [f"tenant-{A}"]


def test_a_request_functions_credentials_are_denied_another_accounts_item_and_secret_even_when_its_code_asks(tenant_role, simulator, template):
    """A bug that names account B while serving account A: the code sends the
    reads, with A's credentials (the request is bound to A), and IAM refuses them."""
    from smarter.store import sessions, storage, tenant_aws
    from smarter.tenancy import account_secrets

    make_tenant(A, "helpdesk")
    make_tenant(B, "helpdesk")
    _put_secret(B, "db-password", "theirs")
    _put_secret(A, "db-password", "mine")
    tenant_role["sent"].clear()
    assumed_before = len(tenant_role["assumed"])
    tenant_aws.bind(A)
    storage.get_scoped("CLIENT", A, "helpdesk", cached=True)
    account_secrets.account_secret(A, "db-password")
    own = list(_scoped(tenant_role))
    tenant_role["sent"].clear()
    # The buggy reads: another account's client, plugin list, session and secret.
    storage.get_scoped("CLIENT", B, "helpdesk", cached=True)
    storage.get_many_scoped("PLUGIN", B, ["course_db"])
    storage.get_account(B, cached=True)
    sessions.load(B, "helpdesk", "their-session", "k1")
    try:
        account_secrets.account_secret(B, "db-password")  # moto answers; AWS would not
    except Exception:
        pass
    foreign = _scoped(tenant_role)
    assert len(foreign) == 5 and all(_session_of(tenant_role, s["key"])[0] == A for s in foreign)  # all signed as A
    own_decisions = _decisions(simulator, template, tenant_role, own)
    assert all(d == "Allowed" for _, d in own_decisions), own_decisions
    decisions = _decisions(simulator, template, tenant_role, foreign)
    assert all(d == "ImplicitlyDenied" for _, d in decisions), decisions
    assert tenant_role["assumed"][assumed_before:] == []  # no credentials of B (or anyone) were obtained for these reads


def test_the_session_policy_is_what_narrows_the_tenant_role_to_one_account(simulator, template, aws):
    """Without a session policy the role reaches every tenant's data (and only
    tenant data); with A's, only A's."""
    from smarter.store import tenant_aws

    role = tenant_role_policy(template)
    config_table = f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{config.settings().config_table}"
    sessions_table = f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{config.settings().sessions_table}"
    secret = f"arn:aws:secretsmanager:{REGION}:{AWS_ACCOUNT}:secret:smarter/accounts/{{}}/k-AbCdEf"
    cases = [  # (session policy of, action, resource, leading keys, expected)
        (None, "dynamodb:GetItem", config_table, [f"ACCOUNT#{B}"], "Allowed"),
        (A, "dynamodb:GetItem", config_table, [f"ACCOUNT#{B}"], "ImplicitlyDenied"),
        (A, "dynamodb:GetItem", config_table, [f"ACCOUNT#{A}"], "Allowed"),
        (A, "dynamodb:BatchGetItem", config_table, [f"ACCOUNT#{A}", f"ACCOUNT#{B}"], "ImplicitlyDenied"),
        (A, "dynamodb:Query", sessions_table, [f"{A}#helpdesk#k1#s"], "Allowed"),
        (A, "dynamodb:Query", sessions_table, [f"{B}#helpdesk#k1#s"], "ImplicitlyDenied"),
        (A, "dynamodb:Query", sessions_table, [f"{A}x#helpdesk#k1#s"], "ImplicitlyDenied"),
        (None, "dynamodb:GetItem", config_table, ["APIKEY#0123abcd"], "ImplicitlyDenied"),  # never a key, even unnarrowed
        (None, "dynamodb:GetItem", config_table, ["DOMAIN#api.acme.com"], "ImplicitlyDenied"),
        (A, "dynamodb:Scan", config_table, [], "ImplicitlyDenied"),
        (A, "secretsmanager:GetSecretValue", secret.format(A), None, "Allowed"),
        (A, "secretsmanager:GetSecretValue", secret.format(B), None, "ImplicitlyDenied"),
        (None, "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{AWS_ACCOUNT}:secret:smarter/providers/openai-AbCdEf", None, "ImplicitlyDenied"),
    ]
    simulations = [{"identityPolicies": [role], "sessionPolicy": tenant_aws.session_policy(who) if who else None, "action": action, "resource": resource,
                    "principal": f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/PluginRole-X/tenant-{who or 'any'}",
                    "context": {"dynamodb:LeadingKeys": keys} if keys is not None else {}} for who, action, resource, keys, _ in cases]
    assert simulator(simulations) == [expected for *_, expected in cases]


def test_a_request_functions_own_role_reads_no_accounts_items_only_keys_and_domains(simulator, template, aws):
    config_table = f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{config.settings().config_table}"
    cases = [
        ("PromptFunction", "dynamodb:GetItem", config_table, [f"ACCOUNT#{A}"], "ImplicitlyDenied"),
        ("PromptFunction", "dynamodb:Query", config_table, [f"ACCOUNT#{A}"], "ImplicitlyDenied"),
        ("PromptFunction", "dynamodb:GetItem", config_table, ["APIKEY#0123abcd"], "Allowed"),
        ("PromptFunction", "dynamodb:GetItem", config_table, ["DOMAIN#api.acme.com"], "Allowed"),
        ("PromptFunction", "dynamodb:Query", f"{config_table}/index/ByVerifiedDomain", ["api.acme.com"], "Allowed"),
        ("PromptFunction", "dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{AWS_ACCOUNT}:table/{config.settings().sessions_table}", [f"{A}#helpdesk#k#s"], "ImplicitlyDenied"),
        ("OpenAIFunction", "dynamodb:GetItem", config_table, [f"ACCOUNT#{B}"], "ImplicitlyDenied"),
        ("PassthroughFunction", "dynamodb:GetItem", config_table, [f"ACCOUNT#{B}"], "ImplicitlyDenied"),
        ("PassthroughFunction", "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{AWS_ACCOUNT}:secret:smarter/accounts/{B}/k-AbCdEf", None, "ImplicitlyDenied"),
        ("PromptFunction", "sts:AssumeRole", TENANT_ROLE, None, "Allowed"),
    ]
    simulations = [{"identityPolicies": [function_policy(template, fn)], "action": action, "resource": resource,
                    "principal": f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/smarter-{fn}Role-X/{fn}",
                    "context": {"dynamodb:LeadingKeys": keys} if keys is not None else {}} for fn, action, resource, keys, _ in cases]
    assert simulator(simulations) == [expected for *_, expected in cases]


def test_only_the_request_functions_roles_may_assume_the_tenant_role(simulator, template, aws):
    trust = _resolve(template["PluginRole"]["Properties"]["AssumeRolePolicyDocument"])
    may_assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    callers = [
        (f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-PromptFunctionRole-X", "Allowed"),
        (f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-PassthroughFunctionRole-X", "Allowed"),
        (f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-McpFunctionRole-X", "Allowed"),
        # Any other principal of the AWS account, whatever tags it carries (the old trust took any principal tagged smarter:plugin-caller).
        (f"arn:aws:iam::{AWS_ACCOUNT}:role/smarter-UsageFunctionRole-X", "ImplicitlyDenied"),
        (f"arn:aws:iam::{AWS_ACCOUNT}:role/someone-else", "ImplicitlyDenied"),
    ]
    simulations = [{"identityPolicies": [may_assume], "resourcePolicy": trust, "action": "sts:AssumeRole", "resource": TENANT_ROLE, "principal": who,
                    "context": {"aws:PrincipalTag/smarter:plugin-caller": "true"}} for who, _ in callers]
    assert simulator(simulations) == [expected for _, expected in callers]


def test_the_warm_path_makes_no_sts_call_and_credentials_are_renewed_before_they_expire(tenant_role, openai_server):
    from smarter.store import tenant_aws

    tenant = make_tenant(A, "helpdesk")
    session = prompt(tenant, "hello").body["metadata"]["session_key"]
    for _ in range(3):  # each continues the session: a scoped Query every time
        assert prompt(tenant, "hello", session_key=session).status == 200
    assert len(tenant_role["assumed"]) == 1
    # Five minutes before expiry they are renewed (and their clients with them).
    expires, creds = tenant_aws._credentials[A]
    tenant_aws._credentials[A] = (time.time() + 200, creds)
    assert prompt(tenant, "hello", session_key=session).status == 200
    assert len(tenant_role["assumed"]) == 2
    assert tenant_aws._credentials[A][1]["aws_access_key_id"] != creds["aws_access_key_id"]


def test_the_session_policy_fits_sts_packed_size_limit(aws):
    from smarter.store import tenant_aws

    packed = json.dumps(tenant_aws.session_policy("9999-9999-9999"), separators=(",", ":"))
    assert len(packed) < 2048, len(packed)
