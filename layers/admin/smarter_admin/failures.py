"""The CLI's one error path: every failure becomes one or two lines on stderr
(`error: ...`, then perhaps `hint: ...`) and an exit code that tells a script
what kind of failure it was. `--debug` adds the traceback.

Exit codes (also in docs/operations.md):

    0   success
    1   the command ran and failed (a plugin test, a conflict, an internal error);
        for `smarter diff`: there are differences, as with diff(1)
    2   usage: unknown option, kind or argument, missing file, no account given
    3   a manifest was refused (invalid YAML or JSON, a field that does not validate)
    4   not found (no such client, plugin, key, domain, journal record)
    5   AWS unreachable: no credentials, no region, the endpoint does not answer
    6   AWS answered with an error (access denied, a missing table)
    10-13  `smarter domain ... --wait` and `domain verify`: the state the domain
        stopped in (requested, pending_validation, issued, failed)
"""

from __future__ import annotations

import traceback

from smarter.errors import ManifestError, NotFound, SmarterError
from smarter_admin import output

try:  # Typer 0.22 and later carry their own copy of Click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older Typer uses Click itself
    from click import ClickException

OK = 0
FAILED = 1
DIFFERENCES = 1
USAGE = 2
REFUSED = 3
NOT_FOUND = 4
AWS_UNREACHABLE = 5
AWS_ERROR = 6

DYNAMODB_OPERATIONS = ("Query", "Scan", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "DescribeTable")
CREDENTIAL_CODES = ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException", "SignatureDoesNotMatch")


class UsageProblem(SmarterError):
    """A usage error found by a command itself (an unknown kind, a verb that
    does not apply to a kind)."""

    status = 400
    type = "usage"

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(exit code, message, hint) for any exception a command raises."""
    if isinstance(exc, ClickException):
        ctx = getattr(exc, "ctx", None)
        hint = f"see '{ctx.command_path} --help'" if ctx is not None else "see 'smarter --help'"
        return USAGE, exc.format_message(), hint
    if isinstance(exc, UsageProblem):
        return USAGE, exc.message, exc.hint
    from smarter_admin.contexts import ContextProblem

    if isinstance(exc, ContextProblem):
        return USAGE, exc.message, exc.hint
    if isinstance(exc, output.MissingAccount):
        return USAGE, exc.message, ""
    if isinstance(exc, ManifestError):
        return REFUSED, f"invalid manifest: {exc.message}", ""
    if isinstance(exc, NotFound):
        return NOT_FOUND, exc.message, ""
    aws = _aws_cause(exc)
    if aws is not None:
        code, message, hint = _classify_aws(aws)
        if isinstance(exc, SmarterError):  # our wording names the domain or step
            message = exc.message
        return code, message, hint
    if isinstance(exc, SmarterError):
        return FAILED, exc.message, getattr(exc, "hint", "")
    if isinstance(exc, OSError):
        return FAILED, f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", ""
    return FAILED, f"unexpected {type(exc).__name__}: {exc}", "run again with --debug for the traceback, and report it"


def _botocore():
    """botocore's exceptions, imported when a command failed (not for --help)."""
    from botocore import exceptions as e

    return (e.ClientError, e.NoRegionError, (e.EndpointConnectionError, e.ConnectTimeoutError, e.ReadTimeoutError, e.ConnectionClosedError),
            (e.NoCredentialsError, e.PartialCredentialsError))


def _aws_cause(exc: BaseException) -> BaseException | None:
    """The botocore error behind `exc`: itself, or the one it was raised from
    (smarter_admin.domains wraps AWS errors in SmarterError)."""
    ClientError, NoRegionError, UNREACHABLE, NO_CREDENTIALS = _botocore()
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (ClientError, NoRegionError, *UNREACHABLE, *NO_CREDENTIALS)):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _classify_aws(exc: BaseException) -> tuple[int, str, str]:
    ClientError, NoRegionError, UNREACHABLE, NO_CREDENTIALS = _botocore()
    if isinstance(exc, NO_CREDENTIALS):
        return AWS_UNREACHABLE, "no AWS credentials found", "set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for the local stack: the exports `make run` prints)"
    if isinstance(exc, NoRegionError):
        return AWS_UNREACHABLE, "no AWS region set", "set AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(exc, UNREACHABLE):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        where = f" at {endpoint}" if endpoint else ""
        message = f"AWS{where} did not answer in time" if "Timeout" in type(exc).__name__ else f"cannot reach AWS{where}"
        return (AWS_UNREACHABLE, message,
                "check the network, or AWS_ENDPOINT_URL (or the context: smarter config current-context); --request-timeout SECONDS sets the wait")
    assert isinstance(exc, ClientError)
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Error"), error.get("Message", "")
    text = f"AWS refused {exc.operation_name}: {code}: {message}".rstrip(": ")
    if code == "ResourceNotFoundException" and exc.operation_name in DYNAMODB_OPERATIONS:
        return AWS_ERROR, text, "a table is missing: set SMARTER_CONFIG_TABLE, SMARTER_JOURNAL_TABLE, SMARTER_SESSIONS_TABLE and SMARTER_USAGE_TABLE to the stack's outputs"
    if code in CREDENTIAL_CODES:
        return AWS_ERROR, text, "the AWS credentials are not valid for this account or have expired"
    if "AccessDenied" in code:
        return AWS_ERROR, text, "the AWS identity in use lacks this permission"
    return AWS_ERROR, text, ""


def report(exc: BaseException, *, debug: bool = False) -> int:
    code, message, hint = classify(exc)
    if debug:
        output.err_console().print("".join(traceback.format_exception(exc)).rstrip(), markup=False, highlight=False, style="dim")
    documents = getattr(exc, "documents", None)
    if isinstance(exc, ManifestError) and documents:
        # Every refused document of the file, each with every problem it has.
        output.err(_line("error: ", f"invalid manifest: {len(documents)} documents were refused", "red"))
        for document in documents:
            problems = document.problems or [(document.path, document.reason)]
            if len(problems) == 1:
                path, reason = problems[0]
                output.err(f"  {document.where}: {path + ': ' if path else ''}{reason}")
                continue
            output.err(f"  {document.where}: {len(problems)} problems")
            for path, reason in problems:
                output.err(f"    {path}: {reason}" if path else f"    {reason}")
        return code
    problems = getattr(exc, "problems", None) or []
    if isinstance(exc, ManifestError) and len(problems) > 1:
        # Every problem of the document, one per line, so one run shows them all.
        where = getattr(exc, "where", "")
        output.err(_line("error: ", f"invalid manifest: {where + ': ' if where else ''}{len(problems)} problems", "red"))
        for path, reason in problems:
            output.err(f"  {path}: {reason}" if path else f"  {reason}")
        return code
    output.err(_line("error: ", message, "red"))
    if hint:
        output.err(_line("hint: ", hint, "dim"))
    return code


def _line(prefix: str, message: str, style: str):
    from rich.text import Text

    text = Text()
    text.append(prefix, style=f"bold {style}" if output.is_color("err") else None)
    text.append(" ".join(str(message).split()))
    return text
