"""Processes the harness starts and watches: start with a READY handshake,
stop by pid, and read a process tree's CPU time and memory from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cold_run(python: Path | str, root: Path, function: str, event_file: Path, env: dict[str, str],
             extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One fresh process of `bench.coldstart` in checkout `root`: its RESULT, with total_ms
    from spawning it to its answer (not to its exit) and its stderr."""
    import json
    import tempfile

    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: -X importtime writes a lot
        started = time.perf_counter()
        proc = subprocess.Popen([str(python), *extra, "-m", "bench.coldstart", function, str(event_file)], env=env,
                                cwd=root, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            line, total, deferred = "", None, None
            for line in proc.stdout:
                if line.startswith("RESULT "):
                    total = (time.perf_counter() - started) * 1000
                    break
            rest, _ = proc.communicate(timeout=120)
            for later in rest.splitlines():
                if later.startswith("DEFERRED "):
                    deferred = json.loads(later[len("DEFERRED "):])["deferred_ms"]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        errors.seek(0)
        stderr = errors.read()
    if total is None:
        raise RuntimeError(f"cold start of {function} in {root} failed: {stderr[-2000:]}")
    result = json.loads(line[len("RESULT "):])
    result["total_ms"] = total
    result["deferred_ms"] = deferred  # None from a checkout whose harness does not hold the deferred writes
    result["stderr"] = stderr
    return result


def layer_bytecode(root: Path, into: Path) -> str:
    """A copy of checkout `root`'s layer packages (smarter, smarter_plugins) in
    `into`, with the unchecked-hash .pyc that layers/core/Makefile and
    layers/plugins/Makefile put in the deployed layers: the PYTHONPATH entry
    a cold start imports them from, as Lambda does from /opt/python. Without it
    a machine with PYTHONDONTWRITEBYTECODE set (this one) compiles every module
    of ours on every cold start, which Lambda does not."""
    import shutil

    into.mkdir(parents=True, exist_ok=True)
    for package in ("core/smarter", "plugins/smarter_plugins"):
        target = into / Path(package).name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(root / "layers" / package, target, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(into)], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    return str(into)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exit_when_parent_goes() -> threading.Event:
    """An event set on SIGTERM or when stdin closes (the harness went away), so
    no server outlives the run that started it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path
    stop_timeout: float = 10.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in stop_timeout seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def serve_until_parent_goes(server) -> int:
    """A child server's main: serve in a thread, say READY with the port (what
    start() waits for), and stop when the bench that started it is gone."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    exit_when_parent_goes().wait()
    server.shutdown()
    return 0


def start(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path, ready: str = "READY", port: int | None = None,
          timeout: float = 120.0, cwd: Path = ROOT) -> Service:
    """Start a server process and wait for its READY line (or, with `port`, for
    the port to accept connections). Its output goes to a log file."""
    log = log_dir / f"{name}.log"
    out = open(log, "wb")
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE if port is None else out,
                            stderr=out, start_new_session=True)
    deadline = time.monotonic() + timeout
    found_port = port
    try:
        if port is None:
            line = _read_line(proc, deadline)
            if not line.startswith(ready):
                raise RuntimeError(f"{name} did not start: {line!r}; see {log}")
            found_port = int(line.split()[1])
            threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True).start()
        else:
            _wait_for_port(proc, port, deadline, name, log)
    except BaseException:
        Service(name, proc, 0, log).stop()
        raise
    return Service(name, proc, found_port, log)


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(max(deadline - time.monotonic(), 0))
    if not result:
        raise RuntimeError(f"no READY line within the time limit (pid {proc.pid})")
    return result[0].decode(errors="replace").strip()


def _drain(stream, out) -> None:
    """Copy a child's output to its log as it comes (read1, flush), so the log's
    size is current: the bill counts the bytes a scenario logged."""
    for chunk in iter(lambda: stream.read1(65536), b""):
        out.write(chunk)
        out.flush()


def _wait_for_port(proc: subprocess.Popen, port: int, deadline: float, name: str, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on {port} in time; see {log}")


# --- /proc -----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def tree(pid: int) -> list[int]:
    """pid and its descendants (a server that forks workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat_fields(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their descendants, in seconds."""
    total = 0
    for root in pids:
        for pid in tree(root):
            try:
                fields = _stat_fields(pid)
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pids: list[int]) -> float:
    """Largest VmHWM (peak resident set) among these processes and descendants, in MB."""
    peak = 0
    for root in pids:
        for pid in tree(root):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
    return peak / 1024


# --- a supervisor for servers that do not watch their stdin -------------------------


def supervise(argv: list[str], grace_s: float = 3.0) -> int:
    """Run argv as a child and end it when the harness goes away (stdin closes)
    or asks (SIGTERM): `python -m bench.procs COMMAND...`."""
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    stop = exit_when_parent_goes()
    while not stop.wait(0.5):
        if child.poll() is not None:
            return child.returncode
    child.terminate()
    try:
        child.wait(grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
