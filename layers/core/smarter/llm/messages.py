"""The prompt request: the messages of a chat and the session they continue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smarter.config import settings
from smarter.errors import BadRequest
from smarter.schema import SESSION_KEY, describe_validation_error


# Content size is bounded by the body limit (SMARTER_MAX_BODY_BYTES); these
# bound the counts that cost work per item.
MAX_CONTENT_PARTS = 100


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str = Field(max_length=256)
    arguments: str | dict[str, Any] | None = None


class ToolCall(BaseModel):
    """An assistant's tool call, as the OpenAI wire format has it."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str | None = Field(default=None, max_length=256)
    type: str = "function"
    function: ToolFunction


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    role: Literal["system", "user", "assistant", "tool"]
    content: str | Annotated[list[dict[str, Any]], Field(max_length=MAX_CONTENT_PARTS)] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=128)
    tool_call_id: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _content_required(self) -> "ChatMessage":
        if self.role in ("system", "user") and not self.content:
            raise ValueError(f"a {self.role} message needs non-empty content")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        return self

    def to_openai(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class OfflineToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str = Field(max_length=256)
    parameters: dict[str, Any] | None = None


class OfflineTool(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = "function"
    function: OfflineToolFunction


class OfflineRequest(BaseModel):
    """A passthrough body for the offline provider. Real providers get the body
    unchanged and judge it themselves; the offline provider runs in-process, so
    its input is checked here like any other handler input."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[OfflineTool] | None = Field(default=None, max_length=128)


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    session_key: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)

    @field_validator("session_key")
    @classmethod
    def _session_key_shape(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not SESSION_KEY.match(value):
            raise ValueError("must be 8 to 128 letters, digits, '-' or '_'")
        return value or None


def check_message_count(body: dict[str, Any]) -> None:
    """At most SMARTER_MAX_MESSAGES messages, checked before validating any of them."""
    messages = body.get("messages")
    limit = settings().max_messages
    if isinstance(messages, list) and len(messages) > limit:
        raise BadRequest(f"messages: {len(messages)} messages in one request; the limit is {limit} (SMARTER_MAX_MESSAGES)")


def parse_prompt_request(body: Any) -> PromptRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with a 'messages' list")
    check_message_count(body)
    try:
        return PromptRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


def parse_offline_request(body: Any) -> dict[str, Any]:
    """The passthrough body for the offline provider, checked; returned as sent."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an OpenAI-style chat completion request")
    check_message_count(body)
    try:
        OfflineRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None
    return body


