"""The admin CLI as an operator runs it against the local stack: the installed
`smarter` script in a child process, with only the exports the stack printed
(or a context holding them), output piped. One test per behaviour of issue
28's points; each uses names of its own, as the stack is shared."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

ACCOUNT = "3141-5926-5359"
SCRIPT = Path(sys.executable).with_name("smarter")
ANSI = re.compile(r"\x1b\[")


class Run:
    def __init__(self, code: int, out: str, err: str, seconds: float):
        self.code, self.out, self.err, self.seconds = code, out, err, seconds

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture(scope="session")
def exports(stack) -> dict[str, str]:
    """The variables of the stack's `Admin CLI against this stack: export ...` line."""
    line = next(line for line in stack.output.splitlines() if line.startswith("Admin CLI against this stack: export "))
    return dict(word.split("=", 1) for word in shlex.split(line.removeprefix("Admin CLI against this stack: export ")))


@pytest.fixture
def smarter(exports, tmp_path):
    """Run `smarter ARGS` with the stack's exports only (no AWS_*/SMARTER_* of
    the test's own) and a config file of this test's own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMARTER_", "PYTEST_"))}
    base["SMARTERCONFIG"] = str(tmp_path / "smarter-config")

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None, use_exports: bool = True, timeout: float = 120) -> Run:
        child = {**base, **(exports if use_exports else {}), **(env or {})}
        started = time.monotonic()
        done = subprocess.run([str(SCRIPT), *args], input=input, capture_output=True, text=True, env=child, timeout=timeout, cwd=tmp_path)
        result = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        assert "Traceback" not in result.err, result
        assert not ANSI.search(result.out + result.err), "piped output has no colour codes"
        return result

    return run


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def manifest(kind: str, name: str, spec: dict, **metadata) -> dict:
    return {"apiVersion": "smarter.sh/v1", "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def static_plugin(name: str, **metadata) -> dict:
    return manifest("Plugin", name, {"selector": {"directive": "always"}, "data": {"description": "facts", "staticData": {"a": "b"}}},
                    description="a test plugin", version="0.1.0", pluginClass="static", **metadata)


def client(name: str, plugins: list[str] | None = None, **config) -> dict:
    return manifest("LLMClient", name, {"config": {"provider": "offline", **config}, "plugins": plugins or []})


def write(path: Path, *docs: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


# --- 1. diff in manifest form ------------------------------------------------------------------


def test_diff_shows_the_manifest_fields_that_change_not_the_stored_record(smarter, tmp_path):
    name = unique("diffbot")
    path = write(tmp_path / "bot.yaml", client(name, defaultTemperature=0.2))
    assert smarter("apply", "-f", str(path)).code == 0
    write(path, client(name, defaultTemperature=0.7))
    result = smarter("diff", "-f", str(path))
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert "-    defaultTemperature: 0.2" in lines and "+    defaultTemperature: 0.7" in lines
    changed = [line for line in lines if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert len(changed) == 2, result  # only that field, in the manifest's own words
    assert not any(word in result.out for word in ("api_key", "smarter: {}", "updated_at", "host_label", "temperature: 0.2\n"))
    # The manifest form is what `get -o yaml` prints: applying that back is no change.
    exported = tmp_path / "exported.yaml"
    exported.write_text(smarter("get", "client", name, "-o", "yaml").out)
    assert smarter("diff", "-f", str(exported)).code == 0


# --- 2. -o name feeds back in -----------------------------------------------------------------


def test_every_name_that_dash_o_name_prints_is_taken_back_by_describe_and_get(smarter):
    for kind in ("clients", "plugins", "apikeys", "accounts"):
        names = smarter("get", kind, "-o", "name").out.split()
        assert names, kind
        for name in names[:3]:
            assert smarter("get", name, "-o", "name").out.split() == [name], name
            described = smarter("describe", name)
            assert described.code == 0 and described.out.strip(), described


def test_api_keys_of_one_name_print_distinct_key_ids_and_revoke_takes_them(smarter):
    name = unique("ci")
    ids = [smarter("apikey", "create", name, "-o", "json").json()["key_id"] for _ in range(2)]
    listed = [line for line in smarter("get", "apikeys", "-o", "name").out.split() if line.removeprefix("apikey/") in ids]
    assert sorted(listed) == sorted(f"apikey/{i}" for i in ids)  # one line per key, none repeated
    assert smarter("apikey", "revoke", name).code == 1  # two live keys of that name: which one?
    revoked = smarter("apikey", "revoke", listed[0], "-o", "name")
    assert revoked.code == 0 and revoked.out.strip() == listed[0]
    assert smarter("apikey", "revoke", name, "-o", "json").json()["key_id"] == listed[1].removeprefix("apikey/")  # now one is left


# --- 3. kubectl's forms ------------------------------------------------------------------------


def test_apply_a_directory_recursively_then_delete_it_with_dry_run_first(smarter, tmp_path):
    plugin, bot = unique("dirplug"), unique("dirbot")
    write(tmp_path / "tenant" / "plugins" / "plugin.yaml", static_plugin(plugin))
    write(tmp_path / "tenant" / "bot.yml", client(bot, [plugin]))
    flat = smarter("apply", "-f", str(tmp_path / "tenant"))
    assert flat.code == 3 or flat.code == 0, flat  # without -R the plugin is not seen: the client is refused
    assert flat.code == 3 and f"no plugin named '{plugin}'" in flat.err and "bot.yml, document 1" in flat.err
    applied = smarter("apply", "-f", str(tmp_path / "tenant"), "-R", "-o", "name")
    assert applied.code == 0 and applied.out.split() == [f"plugin/{plugin}", f"llmclient/{bot}"], applied
    dry = smarter("delete", "-f", str(tmp_path / "tenant"), "-R", "--dry-run")
    assert dry.code == 0 and dry.out.splitlines() == [f"client/{bot} deleted (dry run)", f"plugin/{plugin} deleted (dry run)"]
    assert smarter("get", "client", bot, "-o", "name").code == 0  # still there
    assert smarter("delete", "-f", str(tmp_path / "tenant"), "-R").code == 0
    assert smarter("get", "client", bot).code == 4
    again = smarter("delete", "-f", str(tmp_path / "tenant"), "-R")
    assert again.code == 4 and "no client named" in again.err
    assert smarter("delete", "-f", str(tmp_path / "tenant"), "-R", "--ignore-not-found").code == 0


def test_get_takes_comma_kinds_short_names_all_and_kind_slash_name(smarter):
    both = smarter("get", "cl,pl", "--no-headers")
    lines = both.out.splitlines()
    assert any(line.startswith("client/customer-support ") for line in lines) and any(line.startswith("plugin/support_info ") for line in lines)
    assert not any(line.startswith(("NAME", "KEY_ID")) for line in lines)  # --no-headers
    everything = smarter("get", "all", "-o", "name").out.split()
    assert {"client/customer-support", "plugin/support_info"} <= set(everything) and any(n.startswith("apikey/") for n in everything)
    assert smarter("get", "client/customer-support", "plugin/support_info", "-o", "name").out.split() == ["client/customer-support", "plugin/support_info"]
    names = smarter("get", "clients", "-o", "jsonpath={.items[*].metadata.name}").out.split()
    assert "customer-support" in names
    assert smarter("get", "client", "customer-support", "-o", "jsonpath={.spec.config.provider}").out.strip() == "offline"
    wide = smarter("get", "clients", "-o", "wide").out.splitlines()[0].split()
    assert wide[:5] == ["NAME", "PROVIDER", "MODEL", "PLUGINS", "DEPLOYED"] and {"HOST_LABEL", "TEMPERATURE", "LIMITS"} <= set(wide)
    bad = smarter("get", "clients", "-o", "jsonpath={.items[")
    assert bad.code == 2 and bad.err.startswith("error: ")
    assert smarter("get", "nosuchkind").code == 2


def test_label_selectors_pick_items_by_their_tags(smarter, tmp_path):
    support, sales = unique("selsup"), unique("selsales")
    path = write(tmp_path / "p.yaml", static_plugin(support, tags=["team=support", "beta"]), static_plugin(sales, tags=["team=sales"]))
    assert smarter("apply", "-f", str(path), "--account", ACCOUNT).code == 0
    picked = smarter("get", "plugins", "-l", "team=support", "-o", "name").out.split()
    assert f"plugin/{support}" in picked and f"plugin/{sales}" not in picked
    assert f"plugin/{sales}" in smarter("get", "plugins", "-l", "team in (sales,ops),!beta", "-o", "name").out.split()
    assert f"plugin/{support}" not in smarter("get", "plugins", "-l", "team!=support", "-o", "name").out.split()
    assert smarter("get", "plugins", "-l", "team=(", "-o", "name").code == 2


def test_explain_prints_a_kinds_fields_from_the_models_apply_validates_with(smarter):
    top = smarter("explain", "llmclient")
    assert top.code == 0 and "KIND:     LLMClient" in top.out and "spec" in top.out
    config = smarter("explain", "llmclient.spec.config").out
    assert re.search(r"defaultTemperature\s+<number>\s+\(default 0.5\)", config)
    assert re.search(r"limits\s+<object>", smarter("explain", "apikey.spec").out)
    missing = smarter("explain", "llmclient.spec.nope")
    assert missing.code == 2 and "no object field 'nope'" in missing.err


def test_contexts_let_the_cli_run_with_no_environment(smarter, tmp_path):
    made = smarter("config", "set-context", "local", "--from-env")
    assert made.code == 0, made
    config_file = tmp_path / "smarter-config"
    saved = yaml.safe_load(config_file.read_text())
    assert saved["current-context"] == "local"
    assert "AWS_SECRET_ACCESS_KEY" not in config_file.read_text() and "testing" not in config_file.read_text()  # no credentials kept
    # No exports at all: the current context points at the stack.
    listed = smarter("get", "clients", "-o", "name", use_exports=False)
    assert listed.code == 0 and "client/customer-support" in listed.out.split(), listed
    assert smarter("config", "set-context", "elsewhere", "--endpoint-url", "http://127.0.0.1:9", "--account", ACCOUNT, "--region", "us-east-1").code == 0
    assert smarter("config", "use-context", "elsewhere").code == 0
    assert smarter("config", "current-context").out.strip() == "elsewhere"
    far = smarter("get", "clients", use_exports=False)
    assert far.code == 5 and "127.0.0.1:9" in far.err
    assert smarter("--context", "local", "get", "clients", "-o", "name", use_exports=False).code == 0  # one command elsewhere
    rows = smarter("config", "get-contexts", "-o", "name").out.split()
    assert rows == ["context/local", "context/elsewhere"]
    unknown = smarter("--context", "nope", "get", "clients", use_exports=False)
    assert unknown.code == 2 and "no context named 'nope'" in unknown.err
    refused = smarter("config", "set-context", "x", "--env", "AWS_SECRET_ACCESS_KEY=abc")
    assert refused.code == 2


# --- 4. reference checks -----------------------------------------------------------------------


def test_a_plugin_a_client_uses_cannot_be_deleted_until_the_client_lets_go(smarter, tmp_path):
    plugin, bot = unique("refplug"), unique("refbot")
    assert smarter("apply", "-f", str(write(tmp_path / "t.yaml", static_plugin(plugin, account=ACCOUNT), client(bot, [plugin])))).code == 0
    refused = smarter("delete", "plugin", plugin)
    assert refused.code == 1 and f"plugin/{plugin} is used by client/{bot}" in refused.err and refused.err.count("\n") == 2
    assert refused.err.splitlines()[1].startswith("hint: ")
    assert smarter("delete", "plugin", plugin, "--dry-run").code == 1  # the dry run tells the same
    assert smarter("get", "plugin", plugin, "-o", "name").code == 0
    assert smarter("delete", f"client/{bot}", f"plugin/{plugin}").code == 0  # both at once: fine


def test_keys_cannot_be_limited_to_clients_that_do_not_exist(smarter, tmp_path):
    created = smarter("apikey", "create", unique("k"), "--client", "nobody")
    assert created.code == 4 and "no client named 'nobody'" in created.err
    name = unique("mkey")
    key = manifest("ApiKey", name, {"clients": ["customer-supprt"]}, account=ACCOUNT)
    refused = smarter("apply", "-f", str(write(tmp_path / "k.yaml", key)))
    assert refused.code == 3 and "did you mean 'customer-support'" in refused.err
    bot = unique("keybot")
    together = smarter("apply", "-f", str(write(tmp_path / "k2.yaml", client(bot), manifest("ApiKey", name, {"clients": [bot]}, account=ACCOUNT))), "-o", "json")
    assert together.code == 0, together  # the client comes in the same file


# --- 5. not found and empty lists ---------------------------------------------------------------


def test_not_found_is_exit_4_for_every_verb_and_empty_lists_say_so(smarter):
    for args in (["journal", "nobody"], ["prompt", "nobody", "hi"], ["describe", "client", "nobody"], ["get", "client/nobody"],
                 ["delete", "plugin", "nobody"], ["usage", "--account", "9999-9999-9999"]):
        result = smarter(*args)
        assert result.code == 4 and result.err.startswith("error: ") and result.out == "", (args, result)
    assert smarter("usage", "--day", "bogus").code == 2
    empty = smarter("get", "connections")
    assert (empty.code, empty.out) == (0, "") and empty.err.strip() == f"No connections found in account {ACCOUNT}."
    assert smarter("get", "connections", "-o", "yaml").out == ""  # no blank line
    assert smarter("get", "connections", "-o", "json").json() == []


# --- 6. journal keys as the answers show them --------------------------------------------------


def _post(stack, path: str, body: dict, host: str) -> tuple[dict, dict]:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{stack.port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Host": host, "Authorization": f"Token {stack.api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:  # the passthrough's provider error is journaled too
        return json.loads(exc.read()), dict(exc.headers)


def test_journal_finds_the_keys_the_answers_and_the_page_show(smarter, stack):
    envelope, _ = _post(stack, "/", {"messages": [{"role": "user", "content": "hello"}]}, f"customer-support.{ACCOUNT}.{stack.api_domain}")
    completion, headers = _post(stack, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                                f"customer-support.{ACCOUNT}.{stack.api_domain}")
    page, _ = _post(stack, "/v1/passthrough/openai", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, stack.api_domain)
    time.sleep(1)  # journaled after the answer
    wanted = {
        ("customer-support", envelope["metadata"]["key"]): envelope["metadata"]["key"],
        ("customer-support", completion["id"]): completion["smarter"]["journal_key"],  # chatcmpl-KEY
        ("customer-support", headers["X-Smarter-Journal-Key"]): completion["smarter"]["journal_key"],
        ("customer-support", page["metadata"]["key"]): page["metadata"]["key"],  # the page's passthrough key, named with a client
        (page["metadata"]["key"],): page["metadata"]["key"],  # or alone
    }
    for args, key in wanted.items():
        result = smarter("journal", *args, "-o", "json")
        assert result.code == 0, (args, result)
        assert result.json()["key"] == key
    assert page["metadata"]["key"] in smarter("journal", "-", "-o", "name").out.split()


# --- 7. prices and -o ----------------------------------------------------------------------------


def test_prompt_does_not_warn_of_a_missing_price_the_account_sets(smarter):
    result = smarter("prompt", "customer-support", "What are your support hours?")
    assert result.code == 0 and "no price" not in result.err, result


def test_plugin_test_honours_dash_o(smarter):
    result = smarter("plugin", "test", "support_info", "-o", "json")
    assert result.code == 0, result
    assert "Monday to Friday" in result.json()  # a static plugin's text, as a JSON string
    assert "Monday to Friday" in yaml.safe_load(smarter("plugin", "test", "support_info", "-o", "yaml").out)
    assert smarter("plugin", "test", "support_info", "-o", "name").out.strip() == "plugin/support_info"
    failed = smarter("plugin", "test", "support_info", "--args", '{"inquiry_type": "nope"}', "-o", "json")
    assert failed.code == 1 and failed.out == "" and failed.err.startswith("plugin/support_info") and "error: " in failed.err


# --- 8. domains on the local stack ----------------------------------------------------------------


def test_the_printed_exports_are_enough_to_verify_a_domain(smarter, exports):
    assert exports.get("SMARTER_REST_API_ID") and exports.get("SMARTER_API_DOMAIN")
    domain = f"{unique('d')}.acme.test"
    assert smarter("domain", "add", "customer-support", domain).code == 0
    # The stack's moto issues a certificate MOTO_ACM_VALIDATION_WAIT seconds after the request.
    result = smarter("domain", "verify", domain, "--wait", "--timeout", "60", env={"SMARTER_DOMAIN_POLL_SECONDS": "1"})
    assert result.code == 0, result
    assert f"domain/{domain} verified" in result.out and "SMARTER_REST_API_ID" not in result.out + result.err
    assert smarter("domain", "remove", domain).code == 0


# --- 9. speed, timeouts, waiting -----------------------------------------------------------------


def test_help_answers_without_loading_aws_or_pydantic(smarter):
    probe = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and "Usage: smarter" in probe.stdout
    loaded = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if line.startswith("import time:")}
    assert not loaded & {"botocore", "pydantic", "smarter.store.storage", "smarter_admin.manifests"}, sorted(loaded & {"botocore", "pydantic"})
    best = min(smarter("--help").seconds for _ in range(3))
    assert best < 1.0, best


def _hanging_endpoint():
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    return server, stop, held


def test_request_timeout_ends_a_hanging_call_with_one_line(smarter):
    server, stop, held = _hanging_endpoint()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        result = smarter("get", "clients", "--request-timeout", "1", env={"AWS_ENDPOINT_URL": url})
        assert result.code == 5 and result.seconds < 8, result
        assert result.err.startswith(f"error: AWS at {url}") and "did not answer in time" in result.err and "--request-timeout" in result.err
        bad = smarter("get", "clients", "--request-timeout=soon")
        assert bad.code == 2 and "not a number of seconds" in bad.err
    finally:
        stop.set()
        server.close()
        for conn in held:
            conn.close()


def test_wait_that_times_out_says_so_and_shows_the_time_waited(smarter):
    domain = f"{unique('w')}.acme.test"
    assert smarter("domain", "add", "customer-support", domain).code == 0
    result = smarter("domain", "verify", domain, "--wait", "--timeout", "1", env={"SMARTER_DOMAIN_POLL_SECONDS": "1"})
    assert result.code == 11, result  # still pending DNS
    assert f"error: domain/{domain} is still pending_validation after 1 s: --timeout 1 ran out" in result.err
    assert "hint: wait longer with --timeout" in result.err
    smarter("domain", "remove", domain)


# --- 10. describe -------------------------------------------------------------------------------------


def test_describe_summarises_a_client_and_describes_every_client_without_a_name(smarter, stack):
    bot = unique("descbot")
    smarter("apply", "-f", "-", input=yaml.safe_dump(client(bot, ["support_info"])), env={"SMARTER_ACCOUNT": ACCOUNT})
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{stack.port}/", data=b"{}", method="POST",
                                     headers={"Host": f"{bot}.{ACCOUNT}.{stack.api_domain}", "Authorization": f"Token {stack.api_key}"})
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=30)  # a 400, journaled
    time.sleep(1)
    out = smarter("describe", f"client/{bot}").out
    fields = dict(re.findall(r"^(\w[\w ]*):\s+(.*)$", out, re.M))
    assert fields["Host"] == f"{bot}.{ACCOUNT}.{stack.api_domain}" and fields["State"] == "deployed" and fields["Provider"] == "offline"
    assert "  support_info (Plugin)" in out.splitlines()
    assert re.search(r"^  1 of the last 1 requests failed$", out, re.M) and re.search(r"^  \S+Z-[0-9a-f]{16}  400  prompt", out, re.M)
    every = smarter("describe", "clients")
    assert every.code == 0 and len(re.findall(r"^Host:", every.out, re.M)) >= 2 and re.search(rf"^Name:\s+{bot}$", every.out, re.M)
    assert yaml.safe_load(smarter("describe", "client", bot, "-o", "yaml").out)["metadata"]["name"] == bot


# --- 11. help and completion --------------------------------------------------------------------------


@pytest.mark.parametrize("verb", [[], ["get"], ["apply"], ["delete"], ["describe"], ["journal"], ["config", "set-context"], ["domain", "verify"], ["apikey", "create"]], ids=" ".join)
def test_help_shows_no_internals_and_keeps_examples_on_their_lines(smarter, verb):
    text = smarter(*verb, "--help").out
    assert not re.search(r"<(bool|str|int|float|Path|list\[str\])>", text), text
    assert "Value error" not in text
    if verb:
        examples = text.split("Examples:")[1].splitlines()
        # Each example whole on its own line (Click would rewrap them into one paragraph).
        assert all(not line.strip() or (line.startswith("    ") and ("smarter " in line or line.startswith("      "))) for line in examples[1:]), examples
        assert sum("smarter " in line for line in examples) >= 2


def test_completion_offers_resource_names(smarter):
    def complete(words: str) -> list[str]:
        parts = words.split(" ")
        return smarter(env={"_SMARTER_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}).out.split()

    assert complete("smarter get cl") == ["clients"]
    assert "customer-support" in complete("smarter get clients cu")
    assert complete("smarter describe plugin/sup") == ["plugin/support_info"]


def test_a_manifest_error_names_the_field_without_pydantic_wording(smarter, tmp_path):
    path = write(tmp_path / "bad.yaml", client(unique("bad"), defaultTemperature="hot"))
    result = smarter("apply", "-f", str(path), "--account", ACCOUNT)
    assert result.code == 3 and "spec.config.defaultTemperature" in result.err and "Value error" not in result.err
