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


def build(target: Path) -> None:
    """The two layers' contents for this machine, without bytecode."""
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check", "--target", str(target)]
    subprocess.run([*pip, "-r", str(procs.ROOT / "layers/deps/requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", str(procs.ROOT / "layers/core")], check=True)


def variant(plain: Path, where: Path, way: str) -> Path:
    shutil.copytree(plain, where, symlinks=True)
    if way != "none":
        mode = "timestamp" if way == "timestamp" else "unchecked-hash"
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", mode, str(where)], check=True)
    for root, _dirs, files in os.walk(where):
        for name in files:
            os.utime(os.path.join(root, name), (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)
    return where


def import_once(site: Path, function: str) -> tuple[float, float]:
    """Wall and CPU ms of a fresh `python -S -B -c 'import app'` in the function's folder."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(site), "AWS_DEFAULT_REGION": "us-east-1",
           "POWERTOOLS_SERVICE_NAME": "bench", "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-S", "-B", "-c", "import app"], cwd=procs.ROOT / "functions" / function, env=env, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layer_pyc", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smarter-pyc-") as tmp:
        plain = Path(tmp) / "plain"
        build(plain)
        sites = {way: variant(plain, Path(tmp) / way, way) for way in WAYS}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for function in FUNCTIONS:
            times: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
            for _ in range(args.runs):  # interleaved, so a busy machine slows every way alike
                for way in WAYS:
                    times[way].append(import_once(sites[way], function))
            out[function] = {way: {"import_ms": round(statistics.median(t[0] for t in found), 1),
                                   "import_cpu_ms": round(statistics.median(t[1] for t in found), 1)}
                             for way, found in times.items()}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
