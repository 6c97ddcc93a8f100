"""Framed logs for the runtime client, as awslambdaric writes them.

Under Lambda, `_LAMBDA_TELEMETRY_LOG_FD` names a file descriptor where each
log record is one frame: a 4-byte type (0xa55a0003 for text), a 4-byte
length, an 8-byte timestamp in microseconds, then the UTF-8 message, all
big-endian. A multi-line record (a traceback) then stays one CloudWatch
event instead of one event per line. Without the descriptor (tests, the
local stack), output stays on stdout/stderr as it was.

`install` points stdout and stderr at the sink: what a handler writes there
(Powertools' JSON lines, botocore warnings) is framed per complete line-group
written; `log_exception` writes a traceback as one frame.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
import traceback

FRAME_TEXT = (0xA55A0003).to_bytes(4, "big")
FD_VARIABLE = "_LAMBDA_TELEMETRY_LOG_FD"


class FramedSink(io.TextIOBase):
    """A text stream whose every complete write ending in a newline is one frame."""

    def __init__(self, fd: int):
        self._file = os.fdopen(fd, "wb", 0)
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if self._pending.endswith("\n"):
                message, self._pending = self._pending[:-1], ""
                self.frame(message)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                message, self._pending = self._pending, ""
                self.frame(message)

    def frame(self, message: str) -> None:
        data = message.encode("utf-8", "replace")
        stamp = time.time_ns() // 1000
        self._file.write(FRAME_TEXT + len(data).to_bytes(4, "big") + stamp.to_bytes(8, "big") + data)


_sink: FramedSink | None = None


def install() -> bool:
    """Frame stdout and stderr when Lambda gives the descriptor; whether it did."""
    global _sink
    fd = os.environ.pop(FD_VARIABLE, None)
    if not fd:
        return False
    _sink = FramedSink(int(fd))
    sys.stdout = sys.stderr = _sink
    return True


def log_exception(what: str, exc: BaseException) -> None:
    """A traceback as one record (one frame under Lambda)."""
    text = f"{what}: " + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stream = sys.stderr
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()
