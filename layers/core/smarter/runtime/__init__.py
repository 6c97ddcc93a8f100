"""The Lambda runtime side, in one place: the response-streaming runtime client
(`lambda_stream`, started by the `smarter-stream-runtime` exec wrapper), the
in-process after-answer extension (`afterwards`) and the streamed-response
contract (`streams`). Process-global state lives only here:

- `afterwards._extension`, `_pending`, `_lock`, `_local`, `_watchdog`,
  `_runtime_reports`: the extension thread, the jobs deferred to after the
  answer, the local gateway's held jobs, the write watchdog;
- `lambda_stream`: none beyond the loop's local variables (the handler is
  loaded once, at init).

Everything else that lives per container (boto3 clients, caches, the provider
pools) belongs to its own module and is listed in docs/architecture.md."""
