"""Shared fixtures: moto's server over a real socket, tables from template.yaml,
a scripted OpenAI-format provider on loopback, tenants, and real REST API
proxy events handed to the Lambda handlers."""

from __future__ import annotations

import os
import urllib.request

import pytest
from support import API_DOMAIN, Tenant, make_tenant, static_plugin

from smarter_local.openai_server import OpenAIServer
from smarter_local.stack import configure_environment, create_resources, free_port, put_provider_secret, start_moto


@pytest.fixture(scope="session")
def moto_url():
    server = start_moto(free_port())
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    server.stop()


@pytest.fixture(scope="session")
def openai_server():
    server = OpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_url, openai_server, monkeypatch):
    """A clean moto (reset through its API), tables and bucket from the template,
    and the `openai` provider pointed at the scripted server with a key."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    openai_server.reset()
    env = {
        "SMARTER_API_DOMAIN": API_DOMAIN,
        "SMARTER_CORS_ORIGINS": "https://page.example.com",
        "SMARTER_PROVIDER_OPENAI_BASE_URL": openai_server.base_url,
        "SMARTER_PROVIDER_MAX_RETRIES": "1",
        "SMARTER_PROVIDER_TIMEOUT": "3",
        "SMARTER_CACHE_TTL": "30",
        # The operator's egress policy as the local stack sets it: loopback allowed
        # (the tests' own upstreams), moto's port never.
        "SMARTER_EGRESS_ALLOW": "127.0.0.1",
        "SMARTER_EGRESS_DENY": f"127.0.0.1:{moto_url.rsplit(':', 1)[1]}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configure_environment(moto_url, env)
    for name, value in create_resources().items():
        monkeypatch.setenv(name, value)
    from smarter import config

    config.settings.cache_clear()
    put_provider_secret("openai", "sk-test-provider-key")
    yield moto_url
    _reset_caches()


def _reset_caches() -> None:
    from smarter import cache, config
    from smarter.llm import providers
    from smarter.store import aws, awsjson
    from smarter.tenancy import scoped_aws

    config.settings.cache_clear()
    awsjson.limits = awsjson.Limits()  # a CLI test's --request-timeout does not outlive it
    aws.reset()
    scoped_aws.reset()
    cache.clear_all()
    providers.reset()


@pytest.fixture(autouse=True)
def operator_settings(monkeypatch, tmp_path):
    """The operator's plugin settings as the local stack has them: egress to
    127.0.0.1 allowed (the tests' own upstreams), SQLite files under the
    test's tmp_path/{account}/. Security tests switch to production's policy."""
    from smarter import config

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "127.0.0.1")
    monkeypatch.setenv("SMARTER_SQLITE_ROOT", str(tmp_path))
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


@pytest.fixture
def tenant(aws) -> Tenant:
    return make_tenant(plugins=[static_plugin()])


os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
