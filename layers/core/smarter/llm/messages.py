"""The prompt request: the messages of a chat and the session they continue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smarter.errors import BadRequest
from smarter.schema import SESSION_KEY, describe_validation_error


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_required(self) -> "ChatMessage":
        if self.role in ("system", "user") and not self.content:
            raise ValueError(f"a {self.role} message needs non-empty content")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        return self

    def to_openai(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_key: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)

    @field_validator("session_key")
    @classmethod
    def _session_key_shape(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not SESSION_KEY.match(value):
            raise ValueError("must be 8 to 128 letters, digits, '-' or '_'")
        return value or None


def parse_prompt_request(body: Any) -> PromptRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with a 'messages' list")
    try:
        return PromptRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


