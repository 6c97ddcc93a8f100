"""Infrastructure tests: what template.yaml promises, read from the template itself.

These run without AWS or Docker. The last test (marked `sam`) also lints and
builds the template with the SAM CLI.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smarter_local.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

FUNCTIONS = ("PromptFunction", "PassthroughFunction", "OpenAIFunction")
# Functions that answer through API Gateway's STREAM mode and the streaming runtime client.
STREAMING_FUNCTIONS = ("PassthroughFunction", "OpenAIFunction")
STREAM_WRAPPER = "/opt/bin/smarter-stream-runtime"
TABLES = ("ConfigTable", "SessionsTable", "JournalTable", "UsageTable")
PROVIDER_SECRETS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:smarter/providers/*"
)
TENANT_ROLES_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/smarter-tenant/${AWS::StackName}/*"
# The tenant role's own grant; each session narrows it to one account (store/tenant_aws.py).
ACCOUNT_SECRETS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:smarter/accounts/*"
)
SMARTER_ENV = {
    "SMARTER_CONFIG_TABLE": {"Ref": "ConfigTable"},
    "SMARTER_SESSIONS_TABLE": {"Ref": "SessionsTable"},
    "SMARTER_JOURNAL_TABLE": {"Ref": "JournalTable"},
    "SMARTER_USAGE_TABLE": {"Ref": "UsageTable"},
    "SMARTER_JOURNAL_BUCKET": {"Ref": "JournalBucket"},
    "SMARTER_API_DOMAIN": {"Ref": "ApiDomain"},
    "SMARTER_CORS_ORIGINS": {
        "Fn::Join": [",", [{"Fn::Sub": "https://${PageDistribution.DomainName}"}, {"Fn::Join": [",", {"Ref": "CorsOrigins"}]}]]
    },
    "SMARTER_MAX_BODY_BYTES": {"Ref": "MaxBodyBytes"},
    "SMARTER_JOURNAL_TTL_DAYS": {"Ref": "JournalRetentionDays"},
    "SMARTER_SESSION_TTL_DAYS": {"Ref": "SessionRetentionDays"},
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with SAM Globals applied (maps merge, scalars override)."""
    merged = dict(template.get("Globals", {}).get("Function", {}))
    own = template["Resources"][logical_id]["Properties"]
    for key, value in own.items():
        if key == "Environment":
            variables = {
                **merged.get("Environment", {}).get("Variables", {}),
                **value.get("Variables", {}),
            }
            merged["Environment"] = {"Variables": variables}
        else:
            merged[key] = value
    return merged


def function_statements(resources: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in resources[logical_id]["Properties"].get("Policies", []):
        statements.extend(_as_list(policy["Statement"]))
    return statements


def all_identity_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement: function Policies and IAM roles/policies."""
    found = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            found += [(logical_id, s) for s in function_statements(resources, logical_id)]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [(logical_id, s) for s in _as_list(policy["PolicyDocument"]["Statement"])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(logical_id, s) for s in _as_list(props["PolicyDocument"]["Statement"])]
    return found


def _resource_target(resource: Any) -> str:
    """Name what an ARN expression points at, e.g. 'ConfigTable' or 'ConfigTable/index/*'."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        name, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn", resource
        return name
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)", text)
        if match:
            return match.group(1) + match.group(2)
        return text
    return resource


def granted(resources: dict[str, Any], logical_id: str) -> dict[str, set[str]]:
    """Allowed actions per target, for comparing a function's grants exactly."""
    grants: dict[str, set[str]] = {}
    for statement in function_statements(resources, logical_id):
        assert statement["Effect"] == "Allow"
        for resource in _as_list(statement["Resource"]):
            grants.setdefault(_resource_target(resource), set()).update(_as_list(statement["Action"]))
    return grants


# --------------------------------------------------------------- functions


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_runs_python311_on_arm64_with_active_tracing(template, logical_id):
    props = function_properties(template, logical_id)
    assert props["Runtime"] == "python3.11"
    assert props["Architectures"] == ["arm64"]
    assert props["Tracing"] == "Active"


def test_every_function_in_the_template_runs_python311_on_arm64(template, resources):
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]
    assert set(FUNCTIONS) <= set(functions)
    for logical_id in functions:
        props = function_properties(template, logical_id)
        assert (props["Runtime"], props["Architectures"]) == ("python3.11", ["arm64"]), logical_id


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_uses_the_three_layers_and_thin_handler(template, logical_id):
    props = function_properties(template, logical_id)
    assert props["Handler"] == "app.lambda_handler"
    assert props["Layers"] == [{"Ref": "DepsLayer"}, {"Ref": "CoreLayer"}, {"Ref": "PluginsLayer"}]
    assert props["MemorySize"] == 512
    # Buffered answers end at API Gateway's 29 s (a longer timeout only hides runaway
    # work); streams may run to its 15-minute limit.
    assert props["Timeout"] == (900 if logical_id in STREAMING_FUNCTIONS else 29)


@pytest.mark.parametrize("logical_id", STREAMING_FUNCTIONS)
def test_streaming_functions_run_the_streaming_runtime_behind_stream_integrations(template, resources, logical_id):
    props = function_properties(template, logical_id)
    assert props["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == STREAM_WRAPPER
    wrapper = ROOT / "layers" / "core" / "bin" / STREAM_WRAPPER.rsplit("/", 1)[1]
    assert wrapper.is_file() and wrapper.stat().st_mode & 0o111, "the exec wrapper ships in CoreLayer's bin/ and is executable"
    assert "bin/smarter-stream-runtime" in (ROOT / "layers" / "core" / "Makefile").read_text()
    for event in resources[logical_id]["Properties"]["Events"].values():
        # SAM turns this into STREAM transfer mode on .../response-streaming-invocations.
        assert event["Properties"]["ResponseTransferMode"] == "RESPONSE_STREAM"
        assert event["Properties"]["TimeoutInMillis"] == 900000


def test_the_prompt_function_runs_the_same_runtime_client_posting_buffered_answers(template, resources):
    variables = function_properties(template, "PromptFunction")["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == STREAM_WRAPPER
    assert variables["SMARTER_RESPONSE_MODE"] == "buffered"
    for event in resources["PromptFunction"]["Properties"]["Events"].values():
        assert "ResponseTransferMode" not in event["Properties"]  # a buffered integration


def test_smarter_s_passthrough_path_reaches_the_passthrough_function(resources):
    events = resources["PassthroughFunction"]["Properties"]["Events"]
    paths = {e["Properties"]["Path"] for e in events.values()}
    assert {"/v1/{proxy+}", "/api/v1/prompts/passthrough/{proxy+}"} <= paths


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_gets_table_names_and_limits_from_the_environment(template, logical_id):
    variables = function_properties(template, logical_id)["Environment"]["Variables"]
    for name, value in SMARTER_ENV.items():
        assert variables.get(name) == value, name
    assert variables["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"]
    # Events carry API keys; Powertools must not log them.
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_functions_have_distinct_powertools_service_names(template):
    names = {
        function_properties(template, f)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in FUNCTIONS
    }
    assert len(names) == len(FUNCTIONS)


def test_function_code_lives_in_functions_folder(resources):
    assert resources["PromptFunction"]["Properties"]["CodeUri"] == "functions/prompt/"
    assert resources["PassthroughFunction"]["Properties"]["CodeUri"] == "functions/passthrough/"
    assert resources["OpenAIFunction"]["Properties"]["CodeUri"] == "functions/openai_api/"
    for logical_id in FUNCTIONS:
        code = ROOT / resources[logical_id]["Properties"]["CodeUri"]
        assert (code / "requirements.txt").is_file(), f"{code} needs a requirements.txt for sam build"


def _routes(resources, logical_id) -> set[tuple[str, str]]:
    routes = set()
    for event in resources[logical_id]["Properties"]["Events"].values():
        assert event["Type"] == "Api"
        assert event["Properties"]["RestApiId"] == {"Ref": "Api"}
        routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return routes


def test_prompt_function_answers_every_path_on_client_hosts_and_clients_by_path(resources):
    assert _routes(resources, "PromptFunction") == {
        ("ANY", "/"),
        ("ANY", "/{proxy+}"),
        ("ANY", "/v1/accounts/{proxy+}"),
    }


def test_passthrough_function_answers_the_v1_platform_routes(resources):
    # and Smarter's path of the passthrough (docs/migrating-from-smarter.md)
    assert _routes(resources, "PassthroughFunction") == {("ANY", "/v1/{proxy+}"), ("ANY", "/api/v1/prompts/passthrough/{proxy+}")}


def test_openai_function_answers_the_openai_routes_on_client_hosts(resources):
    paths = ("/v1/chat/completions", "/v1/models", "/v1/models/{proxy+}", "/v1/responses", "/v1/responses/{proxy+}",
             "/v1/messages", "/v1/messages/count_tokens", "/v1/embeddings")
    assert _routes(resources, "OpenAIFunction") == {("ANY", path) for path in paths}
    for path in ("/v1/chat/completions", "/v1/models", "/v1/models/gpt-4o-mini", "/v1/responses", "/v1/responses/resp_1",
                 "/v1/messages", "/v1/messages/count_tokens", "/v1/embeddings"):
        assert api_gateway_target(resources, path) == "OpenAIFunction"
    assert api_gateway_target(resources, "/v1/passthrough/openai") == "PassthroughFunction"


def api_gateway_target(resources, path: str) -> str:
    """The function API Gateway invokes for `path`: an exact resource wins,
    then the greedy {proxy+} resource with the longest literal prefix."""
    greedy = []
    for function in (*FUNCTIONS, "ConsoleFunction", "McpFunction"):
        for _, resource in _routes(resources, function):
            if resource == path:
                return function
            if resource.endswith("/{proxy+}"):
                prefix = resource.removesuffix("{proxy+}")
                if path.startswith(prefix) and len(path) > len(prefix):
                    greedy.append((len(prefix), function))
    assert greedy, f"no API route matches {path}"
    return max(greedy)[1]


def handler_routes(function_folder: str) -> set[str]:
    """Paths the function's Powertools resolver declares, read from the resolver itself."""
    path = ROOT / "functions" / function_folder / "app.py"
    spec = importlib.util.spec_from_file_location(f"_infra_test_{function_folder}_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.app
    routes = [*getattr(app, "_static_routes", []), *getattr(app, "_dynamic_routes", [])]
    # Powertools path parameters (<name>) stand for one path segment.
    return {re.sub(r"<\w+>", "x", route.path) for route in routes}


@pytest.mark.parametrize(("folder", "function"), [("prompt", "PromptFunction"), ("passthrough", "PassthroughFunction"), ("console", "ConsoleFunction")])
def test_every_route_a_handler_declares_reaches_that_function(resources, folder, function):
    pytest.importorskip("smarter", reason="the core package must be importable to read the handlers' routes")
    paths = handler_routes(folder)
    assert paths, f"functions/{folder}/app.py declares no routes"
    for path in sorted(paths):
        assert api_gateway_target(resources, path) == function, path


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_logs_to_its_own_log_group_kept_30_days(resources, logical_id):
    log_group_ref = resources[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]
    log_group = resources[log_group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30


# ------------------------------------------------------------------ tables


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_has_string_pk_and_sk_keys(resources, logical_id):
    props = resources[logical_id]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["pk"] == types["sk"] == "S"


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_is_on_demand_with_point_in_time_recovery_and_encryption(resources, logical_id):
    resource = resources[logical_id]
    props = resource["Properties"]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_declares_exactly_the_attributes_its_keys_use(resources, logical_id):
    # CloudFormation rejects attribute definitions that no key schema uses.
    props = resources[logical_id]["Properties"]
    key_attributes = {k["AttributeName"] for k in props["KeySchema"]}
    for index in props.get("GlobalSecondaryIndexes", []):
        key_attributes |= {k["AttributeName"] for k in index["KeySchema"]}
    assert {a["AttributeName"] for a in props["AttributeDefinitions"]} == key_attributes


@pytest.mark.parametrize("logical_id", ["SessionsTable", "JournalTable"])
def test_sessions_and_journal_expire_by_ttl_on_expires_at(resources, logical_id):
    ttl = resources[logical_id]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_journal_is_sharded_per_client_and_has_no_index_to_write(resources):
    """An index entry would be one more write unit on every request: listings query the shards."""
    props = resources["JournalTable"]["Properties"]
    assert "GlobalSecondaryIndexes" not in props
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]


def test_configuration_never_expires(resources):
    assert "TimeToLiveSpecification" not in resources["ConfigTable"]["Properties"]


def test_usage_table_expires_only_windows_and_holds_and_indexes_held_ones(resources):
    """Usage rows carry no expires_at (tests/integration/test_limits.py checks
    that); limit windows and holds do, and only `held` holds are in ByHold."""
    props = resources["UsageTable"]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    index = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}["ByHold"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["hold_shard", "held_until"]


def test_config_table_indexes_things_by_account_and_hosts_by_verified_domain(resources):
    props = resources["ConfigTable"]["Properties"]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"ByAccount", "ByVerifiedDomain"}
    assert indexes["ByAccount"]["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert indexes["ByVerifiedDomain"]["KeySchema"] == [
        {"AttributeName": "verified_domain", "KeyType": "HASH"},
    ]
    for index in indexes.values():
        assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["gsi1pk"] == types["gsi1sk"] == types["verified_domain"] == "S"


def test_config_table_survives_stack_deletion(resources):
    assert resources["ConfigTable"]["DeletionPolicy"] == "Retain"
    assert resources["ConfigTable"]["UpdateReplacePolicy"] == "Retain"


# ------------------------------------------------------------- journal bucket


def test_journal_bucket_blocks_all_public_access(resources):
    props = resources["JournalBucket"]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_journal_bucket_encrypts_objects(resources):
    rules = resources["JournalBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]


def test_journal_payloads_expire_with_the_journal(resources):
    rules = resources["JournalBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    enabled = [r for r in rules if r["Status"] == "Enabled"]
    assert any(r.get("ExpirationInDays") == {"Ref": "JournalRetentionDays"} for r in enabled)


def test_journal_bucket_refuses_requests_without_tls(resources):
    policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "JournalBucket"}]
    assert len(policies) == 1
    statements = _as_list(policies[0]["Properties"]["PolicyDocument"]["Statement"])
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert any(
        s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and s["Principal"] == "*"
        and {_resource_target(r) for r in _as_list(s["Resource"])} == {"JournalBucket", "JournalBucket/*"}
        for s in deny
    )
    # The bucket policy only takes away; access comes from the functions' roles.
    assert all(s["Effect"] == "Deny" for s in statements)


# -------------------------------------------------------------------- the page


def test_page_bucket_is_private_and_read_only_by_its_distribution(resources):
    bucket = resources["PageBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    policy = resources["PageBucketPolicy"]["Properties"]["PolicyDocument"]
    allows = [s for s in _as_list(policy["Statement"]) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "${PageDistribution}" in allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in _as_list(policy["Statement"]))


def test_page_is_served_over_https_only_through_origin_access_control(resources):
    config = resources["PageDistribution"]["Properties"]["DistributionConfig"]
    origin = config["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PageOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"redirect-to-https"}
    oac = resources["PageOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"


# -------------------------------------------------------------------- IAM


def test_no_identity_policy_allows_wildcard_actions(resources):
    for owner, statement in all_identity_statements(resources):
        if statement["Effect"] != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            assert action != "*", owner
            assert not action.endswith(":*"), f"{owner} allows {action}"
            assert "*" not in action, f"{owner} allows {action}"


def test_no_identity_policy_allows_every_resource(resources):
    for owner, statement in all_identity_statements(resources):
        if statement["Effect"] == "Allow":
            assert "*" not in _as_list(statement["Resource"]), owner


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_permissions_are_explicit_statements(resources, logical_id):
    # Named SAM policy templates (DynamoDBCrudPolicy, ...) and managed policy
    # names grant more than the handlers use; every grant is spelled out.
    for policy in resources[logical_id]["Properties"]["Policies"]:
        assert isinstance(policy, dict) and set(policy) == {"Version", "Statement"}, policy


def test_secrets_access_is_limited_to_provider_keys_and_plugin_secrets(resources):
    secret_statements = [
        (owner, s)
        for owner, s in all_identity_statements(resources)
        if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))
    ]
    assert set(FUNCTIONS) <= {owner for owner, _ in secret_statements}
    readable: dict[str, set[str]] = {}
    for owner, statement in secret_statements:
        assert set(_as_list(statement["Action"])) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, owner
        for resource in _as_list(statement["Resource"]):
            readable.setdefault(owner, set()).add(resource["Fn::Sub"])
    assert readable["PassthroughFunction"] == {PROVIDER_SECRETS_ARN}
    # No function reads account (plugin) secrets itself: only the plugin role, and only
    # under the account named by its session tag (tests/security/test_security_iam.py).
    assert readable["PromptFunction"] == {PROVIDER_SECRETS_ARN}
    assert readable["OpenAIFunction"] == {PROVIDER_SECRETS_ARN}
    assert readable["PluginRole"] == {ACCOUNT_SECRETS_ARN}


@pytest.mark.parametrize("logical_id", ["PromptFunction", "OpenAIFunction"])
def test_prompt_and_openai_functions_may_do_exactly_what_a_prompt_needs(resources, logical_id):
    assert granted(resources, logical_id) == {
        # Only API keys and domain claims (a LeadingKeys condition); an account's own
        # items and its sessions are read through the tenant role (store/tenant_aws.py).
        "ConfigTable": {"dynamodb:GetItem"},
        "ConfigTable/index/ByVerifiedDomain": {"dynamodb:Query"},
        "SessionsTable": {"dynamodb:PutItem", "dynamodb:BatchWriteItem"},
        "JournalTable": {"dynamodb:PutItem", "dynamodb:BatchWriteItem"},
        "JournalBucket/journal/*": {"s3:PutObject"},
        # Query: the shared provider cooldowns only (test_request_functions_read_only_the_cooldown_partition).
        "UsageTable": {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"},
        PROVIDER_SECRETS_ARN: {"secretsmanager:GetSecretValue"},
        TENANT_ROLES_ARN: {"sts:AssumeRole"},
    }


def test_passthrough_function_cannot_touch_sessions(resources):
    assert granted(resources, "PassthroughFunction") == {
        "ConfigTable": {"dynamodb:GetItem"},
        TENANT_ROLES_ARN: {"sts:AssumeRole"},
        "JournalTable": {"dynamodb:PutItem", "dynamodb:BatchWriteItem"},
        "JournalBucket/journal/*": {"s3:PutObject"},
        "UsageTable": {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"},
        PROVIDER_SECRETS_ARN: {"secretsmanager:GetSecretValue"},
    }


def test_only_the_usage_function_counts_usage_from_the_journal_stream(resources, template):
    assert granted(resources, "UsageFunction") == {
        "UsageTable": {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"},
        "UsageTable/index/ByHold": {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"},
        "UsageFailureQueue": {"sqs:SendMessage"},
        # the schedule's replay of records kept in S3 (journal.replay_fallbacks)
        "JournalTable": {"dynamodb:PutItem"},
        "SessionsTable": {"dynamodb:BatchWriteItem"},
        "JournalBucket": {"s3:ListBucket"},
        "JournalBucket/journal/_unwritten/*": {"s3:GetObject", "s3:DeleteObject"},
        "JournalBucket/journal/*": {"s3:PutObject"},
    }
    assert resources["JournalTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    event = resources["UsageFunction"]["Properties"]["Events"]["Journal"]
    assert event["Type"] == "DynamoDB"
    assert event["Properties"]["Stream"] == {"Fn::GetAtt": ["JournalTable", "StreamArn"]}
    # The request functions reserve against limits; they never count usage (no SQS, and a Query of the cooldowns only).
    for logical_id in FUNCTIONS:
        assert granted(resources, logical_id)["UsageTable"] == {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"}


def test_request_functions_read_only_the_cooldown_partition(resources):
    """llm/routing.py's one Query, of the COOLDOWN partition: not usage rows, windows or holds."""
    for logical_id in FUNCTIONS:
        queries = [st for st in function_statements(resources, logical_id)
                   if "dynamodb:Query" in _as_list(st["Action"]) and any(_resource_target(r) == "UsageTable" for r in _as_list(st["Resource"]))]
        assert len(queries) == 1, logical_id
        assert _as_list(queries[0]["Action"]) == ["dynamodb:Query"]
        assert queries[0]["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["COOLDOWN"]}}


def test_a_failing_stream_batch_is_bisected_retried_a_bounded_number_of_times_then_parked(resources):
    props = resources["UsageFunction"]["Properties"]["Events"]["Journal"]["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 10
    assert props["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["UsageFailureQueue", "Arn"]}}
    env = resources["UsageFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SMARTER_USAGE_FAILURE_QUEUE"] == {"Ref": "UsageFailureQueue"}


def test_expired_limit_holds_are_released_on_a_schedule(resources):
    assert resources["UsageFunction"]["Properties"]["Events"]["ReleaseExpiredHolds"] == {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}


def test_no_function_may_write_tenant_configuration(resources):
    for logical_id in FUNCTIONS:
        for target, actions in granted(resources, logical_id).items():
            if target.startswith("ConfigTable"):
                assert all(a.split(":")[1].startswith(("Get", "Query", "BatchGet")) for a in actions)


# -------------------------------------------------------------------- API


def test_api_is_a_regional_rest_api_on_the_live_stage(resources):
    api = resources["Api"]
    assert api["Type"] == "AWS::Serverless::Api"
    props = api["Properties"]
    assert props["StageName"] == "live"
    assert props["EndpointConfiguration"] == {"Type": "REGIONAL"}
    assert props["TracingEnabled"] is True


def test_api_leaves_cors_and_binary_types_to_the_functions(resources):
    props = resources["Api"]["Properties"]
    assert "Cors" not in props
    assert "BinaryMediaTypes" not in props


def test_api_throttles_every_method(resources):
    settings = resources["Api"]["Properties"]["MethodSettings"]
    catch_all = [s for s in settings if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*"]
    assert catch_all and "ThrottlingRateLimit" in catch_all[0] and "ThrottlingBurstLimit" in catch_all[0]


def test_api_writes_access_logs_with_request_id_and_host(resources):
    access = resources["Api"]["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["domainName"] == "$context.domainName"
    assert "authorization" not in access["Format"].lower()
    assert resources["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30


def test_default_endpoint_is_disabled_only_when_a_certificate_is_configured(template, resources):
    assert template["Conditions"]["HasDomain"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PlatformCertificateArn"}, ""]}]
    }
    assert resources["Api"]["Properties"]["DisableExecuteApiEndpoint"] == {"Fn::If": ["HasDomain", True, False]}
    # Without a custom domain the API would be unreachable once the default endpoint is off.
    for logical_id in ("PlatformDomain", "PlatformBasePathMapping"):
        assert resources[logical_id]["Condition"] == "HasDomain"
    assert resources["PlatformBasePathMapping"]["Properties"]["RestApiId"] == {"Ref": "Api"}


# ------------------------------------------------------- parameters, layers


def test_parameters_have_the_documented_defaults(template):
    params = template["Parameters"]
    expected = {
        "ApiDomain": "api.example.com",
        "HostedZoneId": "",
        "PlatformCertificateArn": "",
        "CorsOrigins": "",
        "MaxBodyBytes": 4194304,
        "JournalRetentionDays": 90,
        "SessionRetentionDays": 30,
        "LogLevel": "INFO",
    }
    assert {name: params[name]["Default"] for name in expected} == expected
    assert params["CorsOrigins"]["Type"] == "CommaDelimitedList"


def test_deps_layer_is_built_by_pip_for_arm64(resources):
    layer = resources["DepsLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/deps/"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / "layers/deps/Makefile").read_text()
    assert "build-DepsLayer:" in makefile
    assert "--platform manylinux2014_aarch64" in makefile and "--only-binary=:all:" in makefile


@pytest.mark.parametrize("folder", ["layers/deps", "layers/core", "layers/plugins", "layers/admin"])
def test_every_layer_ships_bytecode_that_survives_the_1980_dated_zip(folder):
    """SAM dates every zipped file 1980-01-01 and /opt is read-only: timestamp .pyc (or none)
    would be compiled again on every cold start; unchecked-hash .pyc are used as they are."""
    makefile = (ROOT / folder / "Makefile").read_text()
    assert "-m compileall" in makefile and "--invalidation-mode unchecked-hash" in makefile


def test_deps_layer_pins_boto3_beside_the_botocore_the_tracer_brings():
    lines = (ROOT / "layers/deps/requirements.txt").read_text().splitlines()
    names = {
        re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert names == {"aws-lambda-powertools", "boto3", "cachetools", "httpx2", "pydantic", "pyyaml", "pg8000", "pymysql", "urllib3", "sqlglot"}
    assert any(line.startswith("aws-lambda-powertools[tracer]") for line in lines)


def test_deps_layer_carries_no_openai_sdk():
    """No function imports the SDK (providers go over urllib3, streams over httpx2): it would only add to the layer and cold start."""
    text = (ROOT / "layers/deps/requirements.txt").read_text()
    assert not [line for line in text.splitlines() if line.strip().lower().startswith("openai")]
    for source in [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        assert not re.search(r"^\s*(import openai|from openai\b)", source.read_text(), re.M), source


@pytest.mark.parametrize(("logical_id", "folder"), [("CoreLayer", "layers/core"), ("PluginsLayer", "layers/plugins"), ("AdminLayer", "layers/admin")])
def test_package_layers_are_built_by_their_makefile_target(resources, logical_id, folder):
    layer = resources[logical_id]
    assert layer["Properties"]["ContentUri"] == f"{folder}/"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / folder / "Makefile").read_text()
    assert re.search(rf"^build-{logical_id}:", makefile, re.MULTILINE)
    # pip (not a copy) so the dist-info and its entry points land in /opt/python.
    assert 'pip install --no-deps --no-compile . -t "$(ARTIFACTS_DIR)/python"' in makefile


@pytest.mark.parametrize("logical_id", ["DepsLayer", "CoreLayer", "PluginsLayer", "AdminLayer"])
def test_layer_targets_python311_on_arm64(resources, logical_id):
    props = resources[logical_id]["Properties"]
    assert props["CompatibleRuntimes"] == ["python3.11"]
    assert props["CompatibleArchitectures"] == ["arm64"]


def test_only_the_domains_and_console_functions_load_the_admin_layer(template, resources):
    # The console applies manifests with `smarter apply`'s own plan (smarter_admin.manifests).
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]
    loading = [k for k in functions if {"Ref": "AdminLayer"} in function_properties(template, k).get("Layers", [])]
    assert sorted(loading) == ["ConsoleFunction", "DomainsFunction"]


def test_outputs_name_the_api_and_every_store(template):
    outputs = template["Outputs"]
    assert {
        "ApiUrl", "ApiId", "ConfigTableName", "SessionsTableName",
        "JournalTableName", "UsageTableName", "JournalBucketName",
    } <= set(outputs)
    for name, logical_id in [
        ("ApiId", "Api"), ("ConfigTableName", "ConfigTable"), ("SessionsTableName", "SessionsTable"),
        ("JournalTableName", "JournalTable"), ("UsageTableName", "UsageTable"),
        ("JournalBucketName", "JournalBucket"),
    ]:
        assert outputs[name]["Value"] == {"Ref": logical_id}
    assert "execute-api" in outputs["ApiUrl"]["Value"]["Fn::Sub"]


# ----------------------------------------------------------- sample events


EVENT_FUNCTIONS = {"prompt": "PromptFunction", "passthrough": "PassthroughFunction", "providers": "PassthroughFunction", "openai": "OpenAIFunction", "console": "ConsoleFunction"}


API_EVENTS = sorted(p for p in (ROOT / "events").glob("*.json") if p.stem.split("-")[0] in EVENT_FUNCTIONS)


def test_every_sample_event_is_checked_against_its_function():
    assert {p.name for p in (ROOT / "events").glob("*.json")} - {p.name for p in API_EVENTS} == {"usage-journal-stream.json"}


def test_sample_stream_event_comes_from_the_journal_stream_the_usage_function_reads(resources):
    event = json.loads((ROOT / "events" / "usage-journal-stream.json").read_text())
    source = resources["UsageFunction"]["Properties"]["Events"]["Journal"]
    assert source["Properties"]["Stream"] == {"Fn::GetAtt": ["JournalTable", "StreamArn"]}
    for record in event["Records"]:
        assert record["eventSource"] == "aws:dynamodb" and record["eventName"] == "INSERT"
        assert record["dynamodb"]["StreamViewType"] == resources["JournalTable"]["Properties"]["StreamSpecification"]["StreamViewType"]
        assert set(record["dynamodb"]["Keys"]) == {k["AttributeName"] for k in resources["JournalTable"]["Properties"]["KeySchema"]}


@pytest.mark.parametrize("path", API_EVENTS, ids=lambda p: p.name)
def test_sample_event_hits_a_route_of_its_function(resources, path):
    event = json.loads(path.read_text())
    function = EVENT_FUNCTIONS[path.stem.split("-")[0]]
    context = event["requestContext"]
    assert (event["resource"], event["httpMethod"]) == (context["resourcePath"], context["httpMethod"])
    assert ("ANY", event["resource"]) in _routes(resources, function)
    assert event["headers"]["Host"] == context["domainName"]
    assert context["domainPrefix"] == context["domainName"].split(".")[0]
    assert context["stage"] == "live"
    assert {k: [v] for k, v in event["headers"].items()} == event["multiValueHeaders"]
    assert event["isBase64Encoded"] is False
    if event["body"] is not None:
        json.loads(event["body"])


# ------------------------------------------------------------ SAM CLI


@pytest.mark.sam
@pytest.mark.timeout(1800)
def test_template_lints_clean_and_builds_for_arm64():
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/check-template.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "_pydantic_core.cpython-311-aarch64-linux-gnu.so" in result.stdout
