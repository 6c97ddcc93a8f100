"""Smarter's own manifest forms apply unchanged (issue 16).

tests/compat/manifests/ holds manifests written here in the form Smarter
documents for each kind (Account, Secret, ApiConnection, SqlConnection,
Plugin, ApiPlugin, SqlPlugin, LLMClient, Chatbot, ApiKey), with the
loopback addresses of this test's own upstreams substituted in (${...}).
Each test applies them through the real CLI against moto over a socket, then:
they round-trip (`get -o yaml` / `describe -o yaml` -> `apply -f` changes
nothing), and the clients built from them answer prompts that call their
plugins on the offline provider: a static, an API (a loopback HTTP server)
and a SQL plugin on SQLite and on PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml
from plugin_fixtures import ACCOUNT, loopback_only, make_sqlite, mariadb_server, postgres_cluster, upstream  # noqa: F401 (fixtures)
from support import API_DOMAIN, invoke, journal_records

from smarter_admin import cli

pytestmark = pytest.mark.usefixtures("loopback_only")

HERE = Path(__file__).parent / "manifests"
BASE = ["01-account.yaml", "02-secrets.yaml", "03-connections.yaml", "04-plugins.yaml", "05-llmclient.yaml", "06-apikey.yaml"]
QUESTION = "Which courses on campus teach Python?"
CLIENT = "compat_llm_client"
CHATBOT = "Compat_Chatbot"
DEBUG = False  # True: a failing CLI call prints its traceback

# Every manifest of the base files, as `smarter get` names it.
EXPORTED = [
    ("account", ACCOUNT),
    ("secret", "catalogue_api_key"),
    ("secret", "courses_db_password"),
    ("apiconnection", "catalogue_connection"),
    ("sqlconnection", "courses_sqlite_connection"),
    ("plugin", "campus_facts"),
    ("apiplugin", "catalogue_search"),
    ("sqlplugin", "courses_sql"),
    ("llmclient", CLIENT),
    ("chatbot", CHATBOT),
    ("apikey", "compat_key"),
]


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([*args, *(["--account", ACCOUNT] if args[0] in ("get", "describe", "diff", "prompt") else [])] + (["--debug"] if DEBUG else []))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def render(tmp_path: Path, names: list[str], **values: object) -> Path:
    """The named manifest files as one multi-document file, placeholders filled."""
    text = "\n---\n".join(string.Template((HERE / name).read_text()).substitute({k: str(v) for k, v in values.items()}) for name in names)
    path = tmp_path / "rendered.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def catalogue(upstream):
    upstream.json("/courses", {"courses": [{"code": "CS101", "name": "Intro to Python", "teacher": "Grace"}]})
    return upstream


@pytest.fixture
def applied(aws, tmp_path, catalogue, capsys):
    """Every base file applied in one run; yields (apply's JSON results, its stderr)."""
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    path = render(tmp_path, BASE, API_BASE_URL=catalogue.base_url, SQLITE_DATABASE=db)
    code, out, err = run(capsys, "apply", "-f", str(path), "-o", "json")
    assert code == 0, err
    return json.loads(out), err


def _api_key(results: list[dict]) -> str:
    return next(r["api_key"] for r in results if r["kind"] == "ApiKey")


def _prompt_path(client: str, key: str, question: str = QUESTION):
    return invoke("prompt", "POST", f"/v1/accounts/{ACCOUNT}/clients/{client}/prompt", host=API_DOMAIN,
                  body={"messages": [{"role": "user", "content": question}]}, key=key)


# --- apply ---------------------------------------------------------------------------------


def test_every_kind_applies_as_smarter_writes_it(applied):
    results, err = applied
    assert sorted((r["kind"], r["name"]) for r in results) == sorted([
        ("Account", ACCOUNT), ("Secret", "catalogue_api_key"), ("Secret", "courses_db_password"),
        ("ApiConnection", "catalogue_connection"), ("SqlConnection", "courses_sqlite_connection"),
        ("Plugin", "campus_facts"), ("ApiPlugin", "catalogue_search"), ("SqlPlugin", "courses_sql"),
        ("LLMClient", CLIENT), ("LLMClient", CHATBOT), ("ApiKey", "compat_key"),
    ])
    # Smarter's documented fields are known: nothing is "unknown"; what is kept but unused is said.
    assert "unknown field" not in err
    assert f"warning: LLMClient/{CLIENT}: spec.functions: Smarter's built-in functions (get_current_weather) do not exist here" in err
    assert f"warning: LLMClient/{CLIENT}: spec.config.dnsVerificationStatus: ignored" in err
    assert f"warning: LLMClient/{CLIENT}: spec.apiKey: kept, not enforced" in err
    assert "cat-token-0123456789" not in json.dumps(results) + err  # a Secret's value is never echoed


def test_the_client_keeps_its_snake_case_name_and_gets_a_host_label(applied, capsys):
    from smarter.store import storage

    doc = storage.get_scoped("CLIENT", ACCOUNT, CLIENT)
    assert (doc["name"], doc["host_label"], doc["deployed"]) == (CLIENT, "compat-llm-client", False)
    assert storage.get_scoped("CLIENT", ACCOUNT, CHATBOT)["host_label"] == "compat-chatbot"
    code, out, _ = run(capsys, "get", "clients", "-o", "name")
    assert sorted(out.split()) == sorted([f"client/{CLIENT}", f"client/{CHATBOT}"])


def test_a_second_client_whose_host_label_collides_is_refused(applied, tmp_path, capsys):
    clash = {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "compat-chatbot", "account": ACCOUNT}, "spec": {"config": {"provider": "offline"}}}
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(clash))
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 3
    assert f"metadata.name: the client '{CHATBOT}' already has the host label 'compat-chatbot'" in err and "rename one of them" in err


# --- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), EXPORTED)
def test_get_and_describe_print_a_manifest_that_applies_unchanged(applied, tmp_path, capsys, kind, name):
    from smarter.store import storage

    before = {k: storage.list_scoped(k, ACCOUNT) for k in ("CLIENT", "PLUGIN", "CONNECTION")}
    for verb in ("get", "describe"):
        code, out, err = run(capsys, verb, kind, name, "-o", "yaml")
        assert code == 0, err
        manifest = yaml.safe_load(out)
        assert manifest["apiVersion"] == "smarter.sh/v1" and manifest["metadata"]["name"] in (name, ACCOUNT)
        path = tmp_path / f"{verb}-{kind}.yaml"
        path.write_text(out)
        code, _, err = run(capsys, "diff", "-f", str(path))
        assert code == 0, f"{verb} {kind} {name} would change: {err}"
        code, out, err = run(capsys, "apply", "-f", str(path))
        assert code == 0, err
        assert out.strip().endswith("(unchanged)"), out
    after = {k: storage.list_scoped(k, ACCOUNT) for k in ("CLIENT", "PLUGIN", "CONNECTION")}
    strip = lambda docs: [{k: v for k, v in d.items() if k != "updated_at"} for d in docs]  # noqa: E731
    assert {k: strip(v) for k, v in after.items()} == {k: strip(v) for k, v in before.items()}


def test_the_exported_client_keeps_what_smarter_wrote(applied, capsys):
    _, out, _ = run(capsys, "get", "llmclient", CLIENT, "-o", "yaml")
    manifest = yaml.safe_load(out)
    applied_doc = yaml.safe_load_all((HERE / "05-llmclient.yaml").read_text())
    original = next(iter(applied_doc))
    assert manifest["kind"] == "LLMClient"
    for field in ("tags", "annotations", "description", "version"):
        assert manifest["metadata"][field] == original["metadata"][field], field
    for field in ("functions", "apiKey", "plugins"):
        assert manifest["spec"][field] == original["spec"][field], field
    wanted = {k: v for k, v in original["spec"]["config"].items() if v is not None}
    assert {k: manifest["spec"]["config"].get(k) for k in wanted} == wanted
    assert yaml.safe_load(run(capsys, "get", "chatbot", CHATBOT, "-o", "yaml")[1])["kind"] == "Chatbot"


def test_an_exported_secret_has_no_value_and_re_applying_it_keeps_the_stored_one(applied, tmp_path, capsys):
    from smarter.tenancy import account_secrets

    _, out, _ = run(capsys, "get", "secrets", "-o", "yaml")
    assert "cat-token-0123456789" not in out and "reader-pw" not in out
    docs = list(yaml.safe_load_all(out))
    assert [d["metadata"]["name"] for d in docs] == ["catalogue_api_key", "courses_db_password"]
    assert docs[0]["spec"]["config"] == {"description": "token of the course catalogue API", "expirationDate": "2030-12-31"}
    path = tmp_path / "secrets.yaml"
    path.write_text(out)
    code, out, err = run(capsys, "apply", "-f", str(path))
    assert code == 0, err
    assert out.splitlines() == ["Secret/catalogue_api_key applied (unchanged)", "Secret/courses_db_password applied (unchanged)"]
    account_secrets.forget(ACCOUNT, "catalogue_api_key")
    assert account_secrets.account_secret(ACCOUNT, "catalogue_api_key") == "cat-token-0123456789"
    # Without a value, a Secret that does not exist yet is refused, naming the field.
    new = {"apiVersion": "smarter.sh/v1", "kind": "Secret", "metadata": {"name": "brand_new", "account": ACCOUNT}, "spec": {"config": {}}}
    path.write_text(yaml.safe_dump(new))
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 3 and "spec.config.value: the secret 'brand_new' does not exist" in err


def test_a_whole_export_re_applies_unchanged(applied, tmp_path, capsys):
    parts = []
    for kind in ("accounts", "secrets", "connections", "plugins", "clients", "apikeys"):
        code, out, err = run(capsys, "get", kind, "-o", "yaml")
        assert code == 0, err
        parts.append(out)
    path = tmp_path / "export.yaml"
    path.write_text("\n---\n".join(parts))
    code, out, err = run(capsys, "apply", "-f", str(path))
    assert code == 0, err
    assert len(out.splitlines()) == len(EXPORTED)
    assert all(line.endswith("(unchanged)") for line in out.splitlines()), out


# --- prompts -----------------------------------------------------------------------------------


def test_an_undeployed_client_answers_on_the_path_route_and_calls_every_plugin(applied, catalogue):
    results, _ = applied
    result = _prompt_path(CLIENT, _api_key(results))
    assert result.status == 200, result.body
    calls = {c["plugin"]: c for c in result.body["data"]["tool_calls"]}
    assert set(calls) == {"campus_facts", "catalogue_search", "courses_sql"}
    assert all(c["outcome"] == "ok" for c in calls.values()), calls
    answer = result.body["data"]["chat_completion"]["choices"][0]["message"]["content"]
    assert "Intro to Python" in answer and "Data structures" in answer  # SQLite rows (CONCAT, SQLite's dialect)
    assert "Grace" in answer  # the API plugin's answer
    assert catalogue.seen[-1].headers["authorization"] == "Token cat-token-0123456789"  # apiKey named the Secret
    assert catalogue.seen[-1].path == "/courses?keyword=Python"
    assert journal_records(ACCOUNT, CLIENT)[0]["status"] == 200


def test_an_undeployed_client_is_not_served_on_its_host_and_says_what_to_do(applied):
    results, _ = applied
    result = invoke("prompt", "POST", "/", host=f"compat-llm-client.{ACCOUNT}.{API_DOMAIN}",
                    body={"messages": [{"role": "user", "content": QUESTION}]}, key=_api_key(results))
    assert result.status == 403
    error = result.body["error"]
    assert error["type"] == "not_deployed"
    assert "deployed: true" in error["message"] and f"/v1/accounts/{ACCOUNT}/clients/{CLIENT}/prompt" in error["message"]


def test_smarter_prompt_answers_an_undeployed_client(applied, capsys):
    code, out, err = run(capsys, "prompt", CLIENT, QUESTION, "-o", "json")
    assert code == 0, err
    assert {c["plugin"] for c in json.loads(out)["tool_calls"]} == {"campus_facts", "catalogue_search", "courses_sql"}


def test_a_deployed_snake_case_client_answers_on_its_derived_host(applied):
    results, _ = applied
    result = invoke("prompt", "POST", "/", host=f"compat-chatbot.{ACCOUNT}.{API_DOMAIN}",
                    body={"messages": [{"role": "user", "content": "When is the campus open?"}]}, key=_api_key(results))
    assert result.status == 200, result.body
    assert [c["plugin"] for c in result.body["data"]["tool_calls"]] == ["campus_facts"]
    assert "Monday to Friday" in result.body["data"]["chat_completion"]["choices"][0]["message"]["content"]
    # The path route takes the name as written, and the label too.
    for name in (CHATBOT, "compat-chatbot"):
        assert _prompt_path(name, _api_key(results), "When is the campus open?").status == 200


@pytest.mark.postgres
def test_the_sql_plugin_on_postgresql_round_trips_and_answers(applied, postgres_cluster, tmp_path, capsys):
    results, _ = applied
    path = render(tmp_path, ["postgresql.yaml"], PG_PORT=postgres_cluster.port, PG_DATABASE=postgres_cluster.database)
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)  # Smarter: the logged-in user's account
    assert code == 0, err
    assert "spec.connection.poolSize: ignored" in err and "spec.connection.useSsl: false means sslMode: disable" in err
    for kind, name in (("sqlconnection", "courses_pg_connection"), ("sqlplugin", "stackademy_sql"), ("llmclient", "stackademy_llm_client")):
        _, out, _ = run(capsys, "get", kind, name, "-o", "yaml")
        exported = tmp_path / "pg-export.yaml"
        exported.write_text(out)
        assert run(capsys, "diff", "-f", str(exported))[0] == 0, out
    key = _api_key(results)
    # The key names its clients; a key of the account for every client calls this one.
    code, out, err = run(capsys, "apikey", "create", "pg-key", "--account", ACCOUNT, "-o", "json")
    assert code == 0, err
    result = _prompt_path("stackademy_llm_client", json.loads(out)["api_key"], "Python courses?")
    assert result.status == 200, result.body
    call = result.body["data"]["tool_calls"][0]
    assert (call["plugin"], call["outcome"]) == ("stackademy_sql", "ok")
    answer = result.body["data"]["chat_completion"]["choices"][0]["message"]["content"]
    assert "Intro to Python" in answer and "Data structures" in answer
    assert _prompt_path("stackademy_llm_client", key).status == 403  # compat_key names other clients


def test_a_password_that_names_no_secret_is_refused_not_stored(applied, tmp_path, capsys):
    from smarter.store import storage

    conn = {"apiVersion": "smarter.sh/v1", "kind": "SqlConnection", "metadata": {"name": "typo_connection", "account": ACCOUNT},
            "spec": {"connection": {"dbEngine": "django.db.backends.postgresql", "hostname": "127.0.0.1", "database": "courses",
                                    "username": "reader", "password": "readerpw2024", "useSsl": True}}}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(conn))
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 3
    assert "spec.connection.password: names the account Secret that holds the credential" in err and "'readerpw2024'" in err
    assert storage.get_scoped("CONNECTION", ACCOUNT, "typo_connection") is None
    # Named by our `secret` field, a Secret that does not exist yet is a warning (it may come later).
    conn["spec"]["connection"] = {**conn["spec"]["connection"], "secret": "later_secret"}
    del conn["spec"]["connection"]["password"]
    path.write_text(yaml.safe_dump(conn))
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 0, err
    assert "spec.connection.secret: account 3141-5926-5359 has no Secret named 'later_secret' yet" in err


# --- a whole Smarter tenant: smarter migrate (issue 26) ----------------------------------------
#
# tests/compat/manifests/smarter-tenant/ holds a tenant written in Smarter's form:
# MySQL (Debian's MariaDB on loopback, tests/mariadb.py), a credential written in
# an API plugin's header, Smarter's nulls, a SmarterAuthToken and kinds not carried.

TENANT = Path(__file__).parent / "manifests" / "smarter-tenant"
STACKADEMY = "stackademy_llm_client"


def render_tenant(tmp_path: Path, **values: object) -> Path:
    folder = tmp_path / "smarter-tenant"
    folder.mkdir()
    for source in sorted(TENANT.glob("*.yaml")):
        (folder / source.name).write_text(string.Template(source.read_text()).substitute({k: str(v) for k, v in values.items()}))
    return folder


@pytest.fixture
def tenant_dir(aws, tmp_path, catalogue, mariadb_server, capsys):
    code, _, err = run(capsys, "apply", "-f", str(render(tmp_path, ["01-account.yaml"])))
    assert code == 0, err
    return render_tenant(tmp_path, MYSQL_PORT=mariadb_server.port, API_BASE_URL=catalogue.base_url)


def _migrate(capsys, folder: Path, *args: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "migrate", str(folder), "--account", ACCOUNT, *args, "-o", "json")
    return code, json.loads(out) if out.strip().startswith("{") else {}, err


def _row(report: dict, manifest: str) -> dict:
    return next(r for r in report["applied"] if r["manifest"] == manifest)


@pytest.mark.mariadb
def test_migrate_applies_a_smarter_tenant_and_reports_every_change_and_refusal(tenant_dir, capsys):
    code, report, err = _migrate(capsys, tenant_dir)
    assert code == 3, err  # something was refused: the kinds not carried
    applied = {r["manifest"] for r in report["applied"]}
    assert applied == {
        "Secret/stackademy_db_password", "Secret/stackademy_api_x_api_key", "SqlConnection/stackademy_mysql", "ApiConnection/stackademy_api_connection",
        "SqlPlugin/stackademy_sql", "ApiPlugin/stackademy_api", f"LLMClient/{STACKADEMY}", "LLMClient/bare_llm_client", "ApiKey/stackademy_token",
    }
    changed = " | ".join(note for r in report["applied"] for note in r["changed"])
    api = _row(report, "ApiPlugin/stackademy_api")["changed"]
    assert any("spec.apiData.headers.X-API-Key: a credential written in the manifest; moved to the Secret 'stackademy_api_x_api_key'" in n for n in api)
    assert "spec.apiData.headers.Content-Length: dropped, the plugin sets this header itself" in api
    assert "spec.apiData.headers.Accept-Encoding: dropped, the plugin sets this header itself" in api
    assert any(n.startswith("spec.config.deployed: not set: false, as in Smarter") for n in _row(report, f"LLMClient/{STACKADEMY}")["changed"])
    assert any("SmarterAuthToken becomes an ApiKey" in n for n in _row(report, "ApiKey/stackademy_token")["changed"])
    assert "spec.connection.poolSize: ignored" in changed and "spec.connection.useSsl: false means sslMode: disable" in changed
    assert "stk-live-0123456789abcdef" not in json.dumps(report) + err  # the credential is never told
    refused = {r["manifest"]: " ".join(r["problems"]) for r in report["refused"]}
    assert set(refused) == {"User/example_user", "Vectorstore/pinecone_example", "Chat/snake-case-name"}
    assert "its own key" in refused["User/example_user"] and "ApiPlugin" in refused["Vectorstore/pinecone_example"]
    assert "smarter journal" in refused["Chat/snake-case-name"]
    assert _row(report, "ApiKey/stackademy_token")["api_key"].startswith("smk_")


@pytest.mark.mariadb
def test_a_migrated_tenant_keeps_smarter_s_meaning(tenant_dir, capsys):
    from smarter.store import storage
    from smarter.tenancy import account_secrets

    _migrate(capsys, tenant_dir)
    client = storage.get_scoped("CLIENT", ACCOUNT, STACKADEMY)
    assert client["deployed"] is False and client["tags"] == [] and client["ui"]["example_prompts"] == []
    bare = storage.get_scoped("CLIENT", ACCOUNT, "bare_llm_client")
    assert (bare["plugins"], bare["functions"] if "functions" in bare else [], bare["deployed"]) == ([], [], False)  # migrate: every manifest is Smarter's
    sql = storage.get_scoped("PLUGIN", ACCOUNT, "stackademy_sql")
    assert sql["spec"]["sqlData"]["limit"] == 100 and sql["spec"]["selector"]["searchTerms"] == []
    connection = storage.get_scoped("CONNECTION", ACCOUNT, "stackademy_mysql")["spec"]["connection"]
    assert (connection["dbEngine"], connection["secret"], connection["sslMode"]) == ("mysql", "stackademy_db_password", "disable")
    api = storage.get_scoped("PLUGIN", ACCOUNT, "stackademy_api")["spec"]["apiData"]["headers"]
    assert api == {"X-API-Key": {"secret": "stackademy_api_x_api_key"}, "X-Request-ID": "12345"}
    assert account_secrets.account_secret(ACCOUNT, "stackademy_api_x_api_key") == "stk-live-0123456789abcdef"
    _, out, _ = run(capsys, "get", "secret", "stackademy_db_password", "-o", "yaml")
    assert yaml.safe_load(out)["spec"]["config"]["expirationDate"] == "2030-06-05"  # Smarter's expiration_date, kept


@pytest.mark.mariadb
def test_a_migrated_client_answers_from_mariadb_and_the_api_with_the_secret_header(tenant_dir, catalogue, capsys):
    _, report, _ = _migrate(capsys, tenant_dir)
    key = _row(report, "ApiKey/stackademy_token")["api_key"]
    result = _prompt_path(STACKADEMY, key, "Which Python courses cost under 500?")
    assert result.status == 200, result.body
    calls = {c["plugin"]: c["outcome"] for c in result.body["data"]["tool_calls"]}
    assert calls == {"stackademy_sql": "ok", "stackademy_api": "ok"}, result.body["data"]["tool_calls"]
    answer = result.body["data"]["chat_completion"]["choices"][0]["message"]["content"]
    assert "Intro to Python" in answer and "Data structures" in answer  # rows from MariaDB
    assert catalogue.seen[-1].headers["x-api-key"] == "stk-live-0123456789abcdef"  # from the Secret
    assert "content-length" not in {k.lower(): v for k, v in catalogue.seen[-1].headers.items()} or catalogue.seen[-1].headers.get("content-length") != "550"


@pytest.mark.mariadb
def test_migrate_dry_run_stores_nothing_and_a_second_run_changes_nothing(tenant_dir, capsys):
    from smarter.store import storage

    code, report, _ = _migrate(capsys, tenant_dir, "--dry-run")
    assert all(r["result"].endswith("(dry run)") for r in report["applied"])
    assert storage.get_scoped("CLIENT", ACCOUNT, STACKADEMY) is None
    _migrate(capsys, tenant_dir)
    _, again, _ = _migrate(capsys, tenant_dir)
    # Unchanged, but for Secrets that carry a value: that is written again (a stored value is never read back to compare).
    assert {r["manifest"]: r["action"] for r in again["applied"] if r["action"] != "unchanged"} == {
        "Secret/stackademy_api_x_api_key": "configured", "Secret/stackademy_db_password": "configured"}


def test_the_migration_report_reads_as_text(aws, tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": "acme", "accountNumber": ACCOUNT}, "spec": {"config": {}}}))
    (folder / "b.yaml").write_text("kind: [unclosed\n")
    (folder / "c.yaml").write_text(yaml.safe_dump({"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "mine"},
                                                   "spec": {"plugins": None, "config": {"provider": "metaai", "subdomain": "mine"}}}))
    code, out, err = run(capsys, "migrate", str(folder))
    assert code == 3, err
    assert out.splitlines()[0] == f"Migration of {folder}: 2 documents; 1 applied (0 changed on the way), 1 refused, 1 files unreadable."
    assert "Refused (what to do):" in out and "unknown provider 'metaai'" in out and "togetherai, groq and fireworks" in out
    assert "b.yaml: b.yaml: document 1: not valid YAML" in out


def test_apply_follows_smarter_s_deployed_default_for_a_manifest_in_smarter_s_form_only(aws, tmp_path, capsys):
    from smarter.store import storage

    account = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}
    smarter_form = {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "smarter_form"},
                    "spec": {"apiKey": None, "functions": None, "plugins": None, "config": {"provider": "offline", "subdomain": "smarter-form"}}}
    ours = {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "ours"}, "spec": {"config": {"provider": "offline"}}}
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump_all([account, smarter_form, ours]))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 0, err
    assert storage.get_scoped("CLIENT", ACCOUNT, "smarter_form")["deployed"] is False
    assert "warning: LLMClient/smarter_form: spec.config.deployed: not set: false, as in Smarter" in err
    assert storage.get_scoped("CLIENT", ACCOUNT, "ours")["deployed"] is True


# --- one run names every error ------------------------------------------------------------------


def test_every_refused_document_of_a_file_and_its_metadata_and_spec_errors_in_one_run(aws, tmp_path, capsys):
    docs = [
        {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}},
        {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "ok_client", "tags": "not-a-list"}, "spec": {"config": {"provider": "offline", "defaultTemperature": 9}}},
        {"apiVersion": "smarter.sh/v1", "kind": "Plugin", "metadata": {"name": "p"}, "spec": {"data": {"staticData": "x"}}},
        {"apiVersion": "smarter.sh/v1", "kind": "User", "metadata": {"name": "u"}, "spec": {}},
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 3
    assert "invalid manifest: 3 documents were refused" in err
    assert "metadata.tags" in err and "spec.config.defaultTemperature" in err  # the same document's metadata and spec problems
    assert "(Plugin/p)" in err and "spec.data.staticData" in err
    assert "kind: User is Smarter's, not carried here" in err


def test_a_plugin_asking_for_another_provider_than_its_client_s_is_refused_not_half_applied(aws, tmp_path, capsys):
    plugin = {"apiVersion": "smarter.sh/v1", "kind": "Plugin", "metadata": {"name": "facts", "description": "facts"},
              "spec": {"prompt": {"provider": "openai", "model": "gpt-4o-mini"}, "data": {"description": "facts", "staticData": {"a": "b"}}}}
    client = {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "on_offline"}, "spec": {"plugins": ["facts"], "config": {"provider": "offline"}}}
    account = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump_all([account, plugin, client]))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 3
    assert "spec.plugins.0: the plugin 'facts' asks for provider 'openai' (spec.prompt.provider) and the client 'on_offline' runs on 'offline'" in err
    # The client's own provider is honoured: its model answers when the plugin is selected.
    plugin["spec"]["prompt"] = {"provider": "offline", "model": "offline-echo"}
    path.write_text(yaml.safe_dump_all([account, plugin, client]))
    assert run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)[0] == 0
    # And a plugin re-applied later with another provider is refused against the stored client.
    plugin["spec"]["prompt"] = {"provider": "openai", "model": "gpt-4o-mini"}
    path.write_text(yaml.safe_dump(plugin))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 3 and "spec.prompt.provider: the plugin 'facts' asks for provider 'openai'" in err


def test_apply_secrets_from_fields_moves_a_header_credential_into_a_secret_and_dry_run_shows_it(applied, catalogue, tmp_path, capsys):
    from smarter.store import storage

    plugin = {"apiVersion": "smarter.sh/v1", "kind": "ApiPlugin", "metadata": {"name": "keyed_search", "pluginClass": "api", "description": "search"},
              "spec": {"connection": "catalogue_connection", "apiData": {"endpoint": "/courses", "headers": [{"name": "X-API-Key", "value": "sk-abcdefghijklmnop1234"}]}}}
    path = tmp_path / "keyed.yaml"
    path.write_text(yaml.safe_dump(plugin))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 3 and "--secrets-from-fields" in err  # refused, with the fix named
    code, out, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT, "--secrets-from-fields", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == ["Secret/keyed_search_x_api_key created (dry run)", "ApiPlugin/keyed_search created (dry run)"]
    assert "changed: ApiPlugin/keyed_search: spec.apiData.headers.X-API-Key: a credential written in the manifest; moved to the Secret 'keyed_search_x_api_key'" in err
    assert "sk-abcdefghijklmnop1234" not in out + err
    assert storage.get_scoped("PLUGIN", ACCOUNT, "keyed_search") is None
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT, "--secrets-from-fields")
    assert code == 0, err
    stored = storage.get_scoped("PLUGIN", ACCOUNT, "keyed_search")
    assert stored["spec"]["apiData"]["headers"] == {"X-API-Key": {"secret": "keyed_search_x_api_key"}}
    code, out, err = run(capsys, "plugin", "test", "keyed_search", "--account", ACCOUNT)
    assert code == 0, err + out
    assert catalogue.seen[-1].headers["x-api-key"] == "sk-abcdefghijklmnop1234"
    assert catalogue.seen[-1].headers["authorization"] == "Token cat-token-0123456789"  # the connection's own credential too
    # An Authorization header the connection already sets (authMethod token) is refused: one of them would be lost.
    plugin["spec"]["apiData"]["headers"] = [{"name": "Authorization", "value": {"secret": "keyed_search_x_api_key"}}]
    path.write_text(yaml.safe_dump(plugin))
    code, _, err = run(capsys, "apply", "-f", str(path), "--account", ACCOUNT)
    assert code == 3 and "spec.apiData.headers.Authorization: the connection 'catalogue_connection' sets this header (authMethod token)" in err
