"""The local stack rehearses a migration as docs/operations.md says: with the
`export ...` line `make run` prints, the admin CLI (a subprocess, as a user
runs it) applies a SQLite connection in the stack's SQLite directory and an
API connection to a server on this machine (loopback), and the client built
from them answers over HTTP, calling both plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from plugin_fixtures import make_sqlite, upstream  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

SMARTER = os.path.join(os.path.dirname(sys.executable), "smarter")


def manifests(api_base_url: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: smarter.sh/v1
        kind: SqlConnection
        metadata: {{name: local_courses}}
        spec:
          connection: {{dbEngine: django.db.backends.sqlite3, database: rehearsal.db}}
        ---
        apiVersion: smarter.sh/v1
        kind: SqlPlugin
        metadata: {{name: local_courses_sql, pluginClass: sql, description: Courses on this machine.}}
        spec:
          connection: local_courses
          sqlData:
            sqlQuery: SELECT course_code, course_name FROM courses ORDER BY course_code
            limit: null
        ---
        apiVersion: smarter.sh/v1
        kind: ApiConnection
        metadata: {{name: local_api}}
        spec:
          connection: {{baseUrl: "{api_base_url.replace('127.0.0.1', 'localhost')}", authenticationMethod: none}}
        ---
        apiVersion: smarter.sh/v1
        kind: ApiPlugin
        metadata: {{name: local_api_search, pluginClass: api, description: The catalogue API on this machine.}}
        spec:
          connection: local_api
          apiData: {{endpoint: /courses}}
        ---
        apiVersion: smarter.sh/v1
        kind: LLMClient
        metadata: {{name: rehearsal_client}}
        spec:
          plugins: [local_courses_sql, local_api_search]
          functions: null
          config: {{provider: offline, deployed: true}}
        """)


def test_the_printed_environment_lets_the_cli_apply_sqlite_and_loopback_connections(stack, upstream, tmp_path):
    env = stack.admin_env()
    root = Path(env["SMARTER_SQLITE_ROOT"])  # printed by the stack, as its functions use it
    assert env["SMARTER_EGRESS_ALLOW"] == "localhost"
    db = make_sqlite(str(root / stack.account / "rehearsal.db"))
    upstream.json("/courses", {"courses": [{"code": "CS101", "teacher": "Grace"}]})
    path = tmp_path / "rehearsal.yaml"
    path.write_text(manifests(upstream.base_url))
    try:
        applied = subprocess.run([SMARTER, "apply", "-f", str(path)], env=env, capture_output=True, text=True, timeout=120)
        assert applied.returncode == 0, applied.stderr
        assert "LLMClient/rehearsal_client applied" in applied.stdout
        request = urllib.request.Request(
            f"http://127.0.0.1:{stack.port}/v1/accounts/{stack.account}/clients/rehearsal_client/prompt",
            data=json.dumps({"messages": [{"role": "user", "content": "Which courses?"}]}).encode(),
            headers={"Authorization": f"Token {stack.api_key}", "Content-Type": "application/json", "Host": stack.api_domain},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.load(response)
        calls = {c["plugin"]: c["outcome"] for c in body["data"]["tool_calls"]}
        assert calls == {"local_courses_sql": "ok", "local_api_search": "ok"}, body["data"]["tool_calls"]
        answer = body["data"]["chat_completion"]["choices"][0]["message"]["content"]
        assert "Intro to Python" in answer and "Grace" in answer
    finally:
        os.remove(db)
