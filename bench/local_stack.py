"""The local stack as `make run` starts it (smarter_local.stack.LocalStack: moto
in-process, the local API Gateway, the usage stream pump), in a process of its
own for the long load (`python -m bench.local_stack`): its memory is what is
measured. It prints `READY {port} {json}` with the stack's port, the API key
and the budgeted client, and stops when the harness goes away."""

from __future__ import annotations

import json
import os
import sys

from bench.procs import exit_when_parent_goes

BUDGETED_CLIENT = "budgeted"
# Every request reserves and settles against these windows (client, key and the
# demo account's usdPerMonth), and never runs out in 10,000 requests.
LIMITS = {"requestsPerMinute": 1_000_000, "tokensPerMinute": 10**12, "usdPerDay": 1_000_000}


def main() -> int:
    from smarter_admin import manifests
    from smarter_local.stack import DEMO_ACCOUNT, LocalStack

    stack = LocalStack()
    info = stack.start(provider="offline")
    manifests.apply_documents([
        {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": DEMO_ACCOUNT},
         "spec": {"companyName": "Demo", "limits": {"usdPerMonth": 1_000_000}}},
        {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": BUDGETED_CLIENT, "account": DEMO_ACCOUNT},
         "spec": {"config": {"provider": "offline", "defaultSystemRole": "You are helpful."}, "limits": LIMITS}},
    ])
    key = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "long-load", "account": DEMO_ACCOUNT},
                           "spec": {"clients": [BUDGETED_CLIENT], "limits": {"tokensPerDay": 10**12}}})
    with open(os.environ["SMARTER_BENCH_INFO"], "w") as f:  # READY's line carries only the port
        json.dump({"api_key": key["api_key"], "client": BUDGETED_CLIENT, "account": DEMO_ACCOUNT, "api_domain": info.api_domain}, f)
    print("READY", info.port, flush=True)
    exit_when_parent_goes().wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
