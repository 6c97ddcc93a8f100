"""What the buffered and the streamed passthrough check alike before any
provider call: a key of the whole account, a JSON object body (typed for the
offline provider), and the key's and the account's budgets reserved."""

from __future__ import annotations

from typing import Any

from smarter.errors import BadRequest, Forbidden
from smarter.llm.providers import Provider
from smarter.store.journal import RequestRecord
from smarter.tenancy import limits


def require_account_key(key: dict[str, Any]) -> None:
    """The passthrough spends the platform's provider keys on any model and
    prompt: a key limited to some clients is not meant to reach it."""
    if key.get("clients"):
        raise Forbidden(
            f"this API key is limited to the clients {', '.join(key['clients'])}; "
            "the passthrough needs a key of the whole account (no clients list)"
        )


def admit(record: RequestRecord, key: dict[str, Any], target: Provider, body: Any) -> dict[str, Any]:
    """The body checked and the request's budget reserved; the body to forward."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an OpenAI-style chat completion request")
    if target.name == "offline":
        from smarter.llm.messages import parse_offline_request  # pydantic: only the offline provider needs it here

        parse_offline_request(body)
    record.plan = limits.plan(key, key["account"], None)
    limits.reserve(record.plan, record, provider=target.name, model=str(body.get("model") or target.default_model), body=body, first=True)
    return body
