"""Domain errors. Each carries its HTTP status and a stable `type`; the one
exception handler in `web` turns them into the error envelope."""

from __future__ import annotations


class SmarterError(Exception):
    status = 500
    type = "internal_error"
    # The request field at fault, when one is (the OpenAI and Anthropic shapes name it);
    # a subclass may name its own.
    param: str | None = None

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if param is not None:
            self.param = param


class BadRequest(SmarterError):
    status = 400
    type = "bad_request"


class Unauthorized(SmarterError):
    status = 401
    type = "unauthorized"


class Forbidden(SmarterError):
    status = 403
    type = "forbidden"


class NotDeployed(Forbidden):
    """A client with `deployed: false` asked for on a host name: it answers only
    on the path route of the platform host (the equivalent of Smarter's sandbox)."""

    type = "not_deployed"


class NotFound(SmarterError):
    status = 404
    type = "not_found"


class MethodNotAllowed(SmarterError):
    status = 405
    type = "method_not_allowed"


class PayloadTooLarge(SmarterError):
    status = 413
    type = "payload_too_large"


class RateLimited(SmarterError):
    status = 429
    type = "rate_limited"


class BudgetExceeded(SmarterError):
    """A spend budget (tokens or USD per day or month) is used up. 402, not 429:
    SDKs retry a 429 on their own, and a budget does not come back in seconds."""

    status = 402
    type = "budget_exceeded"


class ProviderError(SmarterError):
    status = 502
    type = "provider_error"


class ProviderRejected(ProviderError):
    """The provider refused the request itself (a 400, 404, 413 or 422 caused by
    what the caller sent): the caller gets that status, not a 502 its SDK would
    retry. `code` and `param` are the provider's own, when it sent them."""

    type = "provider_rejected"

    def __init__(self, message: str, *, status: int, code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers, param=param)
        self.status = status
        self.code = code


class ProviderNotConfigured(SmarterError):
    status = 502
    type = "provider_not_configured"


class ToolLoopLimit(SmarterError):
    status = 502
    type = "tool_round_limit"


class ResponseTooLarge(SmarterError):
    """The answer would exceed SMARTER_MAX_RESPONSE_BYTES (Lambda's synchronous limit is 6 MB)."""

    status = 502
    type = "response_too_large"


class ProviderTimeout(SmarterError):
    status = 504
    type = "provider_timeout"


class ManifestError(SmarterError):
    """A manifest that does not validate; `path` names the offending field."""

    status = 400
    type = "invalid_manifest"

    def __init__(self, path: str, reason: str, *, problems: list[tuple[str, str]] | None = None):
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason
        # Every (path, reason) found in the document, when there is more than one.
        self.problems = problems or [(path, reason)]

    @classmethod
    def of(cls, problems: list[tuple[str, str]]) -> ManifestError:
        """One error for every problem of a document: the first names the field,
        the message lists them all."""
        if len(problems) == 1:
            return cls(*problems[0])
        return cls("", "; ".join(f"{p}: {r}" if p else r for p, r in problems), problems=problems)


class PluginCallError(Exception):
    """A plugin failed in a way the model should hear about (fed back as the tool
    result). Not a SmarterError: it never becomes an HTTP answer by itself."""
