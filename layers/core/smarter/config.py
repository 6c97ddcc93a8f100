"""Settings read once per container from the environment.

Every knob has a default that suits the local stack, so a test or a developer
only sets what differs. Lambda sets the table names from the template.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

MIB = 1024 * 1024


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    config_table: str
    sessions_table: str
    journal_table: str
    usage_table: str
    journal_bucket: str
    api_domain: str
    cors_origins: tuple[str, ...]
    # Lambda's synchronous payload limit is 6 MB for the whole event; 4 MiB of
    # body leaves room for headers and base64 while fitting very long prompts.
    max_body_bytes: int
    cache_ttl_seconds: float
    max_tool_rounds: int
    provider_timeout_seconds: float
    provider_max_retries: int
    journal_ttl_days: int
    session_ttl_days: int
    session_window: int
    secret_prefix: str
    plugin_timeout_seconds: float
    # The operator's egress policy for plugins (smarter.tenancy.egress): addresses
    # or networks, optionally with a port, that plugins may reach although not public.
    egress_allow: tuple[str, ...] = field(default=())
    egress_deny: tuple[str, ...] = field(default=())
    # SQLite plugin databases live under {sqlite_root}/{account}/; empty = SQLite off.
    sqlite_root: str = ""
    # PEM file of CAs that PostgreSQL TLS verification trusts (the RDS bundle); empty = the system store.
    db_ca_bundle: str = ""
    # The role a plugin call assumes, with a session policy limited to its account; empty = no assume (local).
    plugin_role_arn: str = ""
    # One deadline per request (deadline.py): API Gateway's 29 s, less what
    # the journal write and the answer need.
    request_timeout_seconds: float = 29.0
    journal_reserve_seconds: float = 2.0
    # Lambda's synchronous response limit is 6 MB; an envelope above the cap
    # is refused (response_too_large), never truncated.
    max_response_bytes: int = 5 * MIB
    max_provider_response_bytes: int = 4 * MIB
    max_messages: int = 500
    max_json_depth: int = 32
    # Request bodies are journaled, redacted, up to this size (a digest above).
    journal_body_bytes: int = 64 * 1024
    # The journal write (and the session messages) after the answer is sent, by an
    # in-process Lambda extension or the local runtime (runtime/afterwards.py); off = before it.
    journal_after_response: bool = True
    # How close to the function's timeout a post-response write is not started
    # (the record goes to the log and S3 instead), in seconds.
    journal_after_margin_seconds: float = 0.5
    # Platform default limits, JSON {"account": {...}, "client": {...}, "key": {...}} (tenancy/limits.py).
    default_limits: str = ""
    # Where the UsageFunction parks journal stream records it cannot read (an SQS queue URL).
    usage_failure_queue: str = ""
    # How often a container reads the shared provider cooldowns (llm/routing.py), after an answer.
    cooldown_refresh_seconds: float = 10.0


@functools.cache
def settings() -> Settings:
    return Settings(
        config_table=os.environ.get("SMARTER_CONFIG_TABLE", "smarter-config"),
        sessions_table=os.environ.get("SMARTER_SESSIONS_TABLE", "smarter-sessions"),
        journal_table=os.environ.get("SMARTER_JOURNAL_TABLE", "smarter-journal"),
        usage_table=os.environ.get("SMARTER_USAGE_TABLE", "smarter-usage"),
        journal_bucket=os.environ.get("SMARTER_JOURNAL_BUCKET", "smarter-journal"),
        api_domain=os.environ.get("SMARTER_API_DOMAIN", "api.localhost").lower().strip("."),
        cors_origins=_list("SMARTER_CORS_ORIGINS"),
        max_body_bytes=_int("SMARTER_MAX_BODY_BYTES", 4 * MIB),
        cache_ttl_seconds=_float("SMARTER_CACHE_TTL", 30.0),
        max_tool_rounds=_int("SMARTER_MAX_TOOL_ROUNDS", 5),
        # A cap per provider call; the request's deadline usually ends it first.
        provider_timeout_seconds=_float("SMARTER_PROVIDER_TIMEOUT", 25.0),
        provider_max_retries=_int("SMARTER_PROVIDER_MAX_RETRIES", 2),
        journal_ttl_days=_int("SMARTER_JOURNAL_TTL_DAYS", 90),
        session_ttl_days=_int("SMARTER_SESSION_TTL_DAYS", 30),
        session_window=_int("SMARTER_SESSION_WINDOW", 200),
        secret_prefix=os.environ.get("SMARTER_SECRET_PREFIX", "smarter/providers/"),
        plugin_timeout_seconds=_float("SMARTER_PLUGIN_TIMEOUT", 10.0),
        # SMARTER_LOCAL_ALLOWED_HOSTS is the older name of SMARTER_EGRESS_ALLOW.
        egress_allow=_list("SMARTER_EGRESS_ALLOW") or _list("SMARTER_LOCAL_ALLOWED_HOSTS"),
        egress_deny=_list("SMARTER_EGRESS_DENY"),
        sqlite_root=os.environ.get("SMARTER_SQLITE_ROOT", "").strip(),
        db_ca_bundle=os.environ.get("SMARTER_DB_CA_BUNDLE", "").strip(),
        plugin_role_arn=os.environ.get("SMARTER_PLUGIN_ROLE_ARN", "").strip(),
        request_timeout_seconds=_float("SMARTER_REQUEST_TIMEOUT", 29.0),
        journal_reserve_seconds=_float("SMARTER_JOURNAL_RESERVE", 2.0),
        max_response_bytes=_int("SMARTER_MAX_RESPONSE_BYTES", 5 * MIB),
        max_provider_response_bytes=_int("SMARTER_MAX_PROVIDER_RESPONSE_BYTES", 4 * MIB),
        max_messages=_int("SMARTER_MAX_MESSAGES", 500),
        max_json_depth=_int("SMARTER_MAX_JSON_DEPTH", 32),
        journal_body_bytes=_int("SMARTER_JOURNAL_BODY_BYTES", 64 * 1024),
        journal_after_response=os.environ.get("SMARTER_JOURNAL_AFTER_RESPONSE", "on").strip().lower() not in ("off", "false", "0", "no"),
        journal_after_margin_seconds=_float("SMARTER_JOURNAL_AFTER_MARGIN", 0.5),
        default_limits=os.environ.get("SMARTER_DEFAULT_LIMITS", "").strip(),
        usage_failure_queue=os.environ.get("SMARTER_USAGE_FAILURE_QUEUE", "").strip(),
        cooldown_refresh_seconds=_float("SMARTER_COOLDOWN_REFRESH", 10.0),
    )
