"""Named contexts, as kubeconfig has: one file says how to reach each place an
operator administers (the local stack, staging, production), and
`smarter config use-context NAME` picks one, so the CLI needs no environment.

The file is `$SMARTERCONFIG`, else `~/.smarter/config` (YAML):

    current-context: local
    contexts:
    - name: local
      context:
        account: 3141-5926-5359
        endpoint-url: http://127.0.0.1:9358     # the local stack's moto
        region: us-east-1
        env:                                      # the stack's table and bucket names
          SMARTER_CONFIG_TABLE: smarter-config
    - name: prod
      context:
        profile: smarter-admin                    # an AWS profile: credentials stay in ~/.aws
        region: eu-west-1
        account: 2718-2818-2845

A context never holds AWS secret keys: it names a profile. A context whose
endpoint is on this machine (the local stack's moto) gets moto's `testing`
credentials when the environment has none.

The context in use (`--context NAME`, else `current-context`) sets its
variables over the environment's; `--account` still wins over its account.
Without a file, or with no current context, the environment alone counts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer

from smarter_admin import output
from smarter_admin.output import Column, Output, emit

# A context's fields and the environment variable each sets.
FIELDS = {
    "account": "SMARTER_ACCOUNT",
    "endpoint-url": "AWS_ENDPOINT_URL",
    "region": "AWS_DEFAULT_REGION",
    "profile": "AWS_PROFILE",
    "api-domain": "SMARTER_API_DOMAIN",
}
# Variables a context may carry under `env` (never credentials).
ENV_ALLOWED = re.compile(r"^(SMARTER_[A-Z0-9_]+|AWS_(DEFAULT_)?REGION|AWS_PROFILE|AWS_ENDPOINT_URL(_[A-Z0-9_]+)?)$")
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD|ACCESS_KEY|API_KEY", re.I)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ContextProblem(Exception):
    """A usage error about the config file or a context (exit 2)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


def path() -> Path:
    return Path(os.environ.get("SMARTERCONFIG") or Path.home() / ".smarter" / "config")


def load() -> dict[str, Any]:
    file = path()
    if not file.exists():
        return {"contexts": []}
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ContextProblem(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts", []), list):
        raise ContextProblem(f"{file} must be a mapping with a list of contexts")
    data.setdefault("contexts", [])
    return data


def save(data: dict[str, Any]) -> None:
    import yaml

    file = path()
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def find(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in data["contexts"] if isinstance(c, dict) and c.get("name") == name), None)


def environment(context: dict[str, Any]) -> dict[str, str]:
    """The variables a context sets."""
    env = {var: str(context[field]) for field, var in FIELDS.items() if context.get(field)}
    if "AWS_DEFAULT_REGION" in env:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
    for key, value in (context.get("env") or {}).items():
        if ENV_ALLOWED.match(str(key)) and not SECRET_NAMES.search(str(key)):
            env[str(key)] = str(value)
    return env


def activate(name: str | None) -> str | None:
    """Set the chosen context's variables in this process; returns its name."""
    if name is None and not path().exists():
        return None
    data = load()
    name = name or data.get("current-context")
    if not name:
        return None
    entry = find(data, name)
    if entry is None:
        known = ", ".join(str(c.get("name")) for c in data["contexts"] if isinstance(c, dict)) or "none"
        raise ContextProblem(f"no context named {name!r} in {path()}", f"known contexts: {known}; see `smarter config get-contexts`")
    env = environment(entry.get("context") or {})
    if "AWS_ENDPOINT_URL" in env and "AWS_PROFILE" not in env:
        # The endpoint of this context replaces any profile the shell had.
        os.environ.pop("AWS_PROFILE", None)
    os.environ.update(env)
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint and urlparse(endpoint).hostname in LOCAL_HOSTS and not os.environ.get("AWS_ACCESS_KEY_ID") and "AWS_PROFILE" not in env:
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})  # moto's, not a secret
    return name


# --- `smarter config ...` ------------------------------------------------------------------

config_app = typer.Typer(help="Contexts: where the CLI points (the local stack, a deployment), kept in ~/.smarter/config.",
                         no_args_is_help=True, rich_markup_mode=None)

CONTEXT_COLUMNS = [
    Column("CURRENT", lambda r: "*" if r["current"] else ""),
    Column("NAME", lambda r: r["name"]),
    Column("ACCOUNT", lambda r: r.get("account")),
    Column("ENDPOINT", lambda r: r.get("endpoint-url") or (f"profile {r['profile']}" if r.get("profile") else "")),
    Column("REGION", lambda r: r.get("region")),
]


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("get-contexts", epilog="\b\nExamples:\n  smarter config get-contexts\n  smarter config get-contexts -o name")
def get_contexts(output_format: Output = None) -> int:
    """List the contexts; the current one is marked *."""
    data = load()
    rows = [{"name": c.get("name"), "current": c.get("name") == data.get("current-context"), **(c.get("context") or {})}
            for c in data["contexts"] if isinstance(c, dict)]
    emit(rows, output_format, columns=CONTEXT_COLUMNS, name=lambda r: f"context/{r['name']}", empty=f"No contexts in {path()}.")
    return 0


@config_app.command("current-context")
def current_context() -> int:
    """Print the current context's name."""
    name = load().get("current-context")
    if not name:
        raise ContextProblem("no current context is set", "smarter config use-context NAME")
    output.out(name)
    return 0


@config_app.command("use-context", epilog="\b\nExamples:\n  smarter config use-context local\n  smarter --context prod get clients   # one command elsewhere")
def use_context(name: Annotated[str, typer.Argument(help="The context.", show_default=False, autocompletion=lambda: [str(c.get("name")) for c in load()["contexts"]])]) -> int:
    """Make NAME the current context: later commands address it."""
    data = load()
    if find(data, name) is None:
        raise ContextProblem(f"no context named {name!r} in {path()}", f"create it: smarter config set-context {name} --from-env")
    data["current-context"] = name
    save(data)
    output.err(f'Switched to context "{name}".')
    return 0


@config_app.command(
    "set-context",
    epilog="\b\nExamples:\n"
    "  smarter config set-context local --from-env     # after the exports `make run` prints\n"
    "  smarter config set-context prod --profile admin --region eu-west-1 --account 2718-2818-2845",
)
def set_context(
    name: Annotated[str, typer.Argument(help="The context (created, or updated field by field).", show_default=False)],
    account: Annotated[str | None, typer.Option("--account", metavar="NUMBER", help="Account number.")] = None,
    endpoint_url: Annotated[str | None, typer.Option("--endpoint-url", metavar="URL", help="AWS endpoint (the local stack's moto).")] = None,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION", help="AWS region.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", metavar="PROFILE", help="AWS profile (its credentials stay in ~/.aws).")] = None,
    set_env: Annotated[list[str] | None, typer.Option("--env", metavar="NAME=VALUE", help="A SMARTER_* variable, e.g. SMARTER_CONFIG_TABLE=... (repeatable).")] = None,
    from_env: Annotated[bool, typer.Option("--from-env", help="Take account, endpoint, region, profile and the SMARTER_* variables from this shell.")] = False,
) -> int:
    """Create or update a context (never with credentials: name a profile)."""
    data = load()
    entry = find(data, name)
    if entry is None:
        entry = {"name": name, "context": {}}
        data["contexts"].append(entry)
    context = entry.setdefault("context", {})
    if from_env:
        for field, var in FIELDS.items():
            value = os.environ.get(var) or (os.environ.get("AWS_REGION") if var == "AWS_DEFAULT_REGION" else None)
            if value:
                context[field] = value
        extra = {k: v for k, v in sorted(os.environ.items()) if ENV_ALLOWED.match(k) and not SECRET_NAMES.search(k)
                 and k not in FIELDS.values() and k not in ("AWS_REGION",)}
        if extra:
            context["env"] = {**(context.get("env") or {}), **extra}
    for field, value in (("account", account), ("endpoint-url", endpoint_url), ("region", region), ("profile", profile)):
        if value is not None:
            context[field] = value
    for pair in set_env or []:
        key, sep, value = pair.partition("=")
        if not sep or not ENV_ALLOWED.match(key) or SECRET_NAMES.search(key):
            raise ContextProblem(f"--env {pair!r}: a context carries SMARTER_* and AWS region, profile or endpoint variables, as NAME=VALUE",
                                 "credentials stay out of the file: use --profile")
        context.setdefault("env", {})[key] = value
    if not data.get("current-context"):
        data["current-context"] = name
    save(data)
    output.err(f'Context "{name}" {"modified" if context else "created"} in {path()}.')
    return 0


@config_app.command("delete-context")
def delete_context(name: Annotated[str, typer.Argument(help="The context.", show_default=False)]) -> int:
    """Delete a context."""
    data = load()
    if find(data, name) is None:
        raise ContextProblem(f"no context named {name!r} in {path()}")
    data["contexts"] = [c for c in data["contexts"] if not (isinstance(c, dict) and c.get("name") == name)]
    if data.get("current-context") == name:
        data.pop("current-context")
    save(data)
    output.err(f'Deleted context "{name}".')
    return 0


@config_app.command("view")
def view(output_format: Output = None) -> int:
    """Print the config file (YAML by default)."""
    output.out(output.dump(load(), output_format if output_format and output_format.value == "json" else "yaml"))
    return 0
