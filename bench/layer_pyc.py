"""What the layers' bytecode does to a cold start: `python -m bench.layer_pyc [--runs N]`.

Lambda unzips a layer into /opt, read-only, and SAM zips every file dated
1980-01-01. A timestamp .pyc (pip's default) records its source's mtime, so
after that zip it never validates; with no .pyc at all it is the same: every
cold start compiles every module it imports and cannot keep the result. This
builds the DepsLayer and CoreLayer for this machine (host wheels, not arm64,
so they import here), in three ways, dates every file 1980 as SAM's zip does,
and times importing each function's handler with bytecode writing off (`-B`,
as on a read-only /opt):

- `none`: no .pyc (what the python3.11 builder and `pip --no-compile` ship);
- `timestamp`: pip's default .pyc, invalid after the zip;
- `unchecked-hash`: what layers/deps/Makefile and layers/core/Makefile now write.

Prints one JSON object: median import wall and CPU ms per function and way.
`--python /path/to/python3.12` (repeatable) also times the unchecked-hash way
under other interpreters, each with the layers built for it: what a runtime
change (python3.12 or 3.13, which SnapStart needs) does to the import.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procs

WAYS = ("none", "timestamp", "unchecked-hash")
FUNCTIONS = ("prompt", "passthrough", "openai_api")
ZIP_EPOCH = time.mktime((1980, 1, 1, 0, 0, 0, 0, 0, -1))


def build(target: Path, python: str = sys.executable) -> None:
    """The two layers' contents for this machine, without bytecode."""
    pip = [python, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check", "--target", str(target)]
    subprocess.run([*pip, "-r", str(procs.ROOT / "layers/deps/requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", str(procs.ROOT / "layers/core")], check=True)


def variant(plain: Path, where: Path, way: str, python: str = sys.executable) -> Path:
    shutil.copytree(plain, where, symlinks=True)
    if way != "none":
        mode = "timestamp" if way == "timestamp" else "unchecked-hash"
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", mode, str(where)], check=True)
    for root, _dirs, files in os.walk(where):
        for name in files:
            os.utime(os.path.join(root, name), (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)
    return where


def import_once(site: Path, function: str, python: str = sys.executable) -> tuple[float, float]:
    """Wall and CPU ms of a fresh `python -S -B -c 'import app'` in the function's folder."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(site), "AWS_DEFAULT_REGION": "us-east-1",
           "POWERTOOLS_SERVICE_NAME": "bench", "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([python, "-S", "-B", "-c", "import app"], cwd=procs.ROOT / "functions" / function, env=env, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layer_pyc", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", action="append", default=[], help="another interpreter to time (unchecked-hash only)")
    parser.add_argument("--skip-ways", action="store_true", help="time only the unchecked-hash way (with --python)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smarter-pyc-") as tmp:
        plain = Path(tmp) / "plain"
        build(plain)
        ways = ("unchecked-hash",) if args.skip_ways else WAYS
        # (label, interpreter, site folder)
        sites = [(way, sys.executable, variant(plain, Path(tmp) / way, way)) for way in ways]
        for python in args.python:
            version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], check=True,
                                     capture_output=True, text=True).stdout.strip()
            other = Path(tmp) / f"plain-{version}"
            build(other, python)
            sites.append((f"python{version} unchecked-hash", python, variant(other, Path(tmp) / f"hash-{version}", "unchecked-hash", python)))
        out: dict[str, dict[str, dict[str, float]]] = {}
        for function in FUNCTIONS:
            times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in sites}
            for _ in range(args.runs):  # interleaved, so a busy machine slows every way alike
                for label, python, site in sites:
                    times[label].append(import_once(site, function, python))
            out[function] = {way: {"import_ms": round(statistics.median(t[0] for t in found), 1),
                                   "import_cpu_ms": round(statistics.median(t[1] for t in found), 1)}
                             for way, found in times.items()}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
