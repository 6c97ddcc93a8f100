"""Cold start of one function: a fresh process imports the handler and serves
its first request, as a new Lambda container does (`python -m bench.coldstart
FUNCTION EVENT_FILE`). It prints one JSON line: import and first-request
times and the peak resident memory (ru_maxrss). Imports only the standard
library before the handler, so what it measures is the function's own.

As in Lambda, the writes the request defers until its answer is out (the
journal record and usage: smarter.runtime.afterwards) run after the answer:
the harness holds them, prints the answer's RESULT line, then runs them and
prints a DEFERRED line with their time, which the bench reports beside the
answer as the container's busy time."""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function: str):
        self.function_name = f"smarter-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec. Not
    ru_maxrss: Linux keeps that across exec, so it can report the harness's own size
    at the fork when the harness is the larger of the two."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    function, event_file = sys.argv[1], sys.argv[2]
    event = json.loads(Path(event_file).read_text())
    sys.path.insert(0, str(ROOT / "functions" / function))
    before_import = time.perf_counter()
    import app  # noqa: PLC0415  (the handler module, as Lambda's runtime imports it)

    imported = time.perf_counter()
    from smarter.runtime import afterwards  # noqa: PLC0415  (already imported by the handler module)

    afterwards.hold()  # the deferred writes wait for the answer, as Lambda's extension makes them
    response = app.lambda_handler(event, Context(function))
    served = time.perf_counter()
    result = {
        "function": function,
        "status": response.get("statusCode"),
        "import_ms": (imported - before_import) * 1000,
        "first_request_ms": (served - imported) * 1000,
        "in_process_ms": (served - STARTED) * 1000,
        # CPU of the process from its start to the answer: steadier than wall time on a busy machine.
        "cpu_ms": time.process_time() * 1000,
        "max_rss_mb": _peak_rss_mb(),
        "modules": len(sys.modules),
        "loaded": sorted(name for name in ("openai", "httpx", "httpx2", "aws_xray_sdk", "yaml", "pydantic", "boto3") if name in sys.modules),
    }
    print("RESULT " + json.dumps(result), flush=True)
    afterwards.run_held()
    print("DEFERRED " + json.dumps({"deferred_ms": (time.perf_counter() - served) * 1000}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
