"""A throwaway PostgreSQL cluster for the SQL plugin tests: initdb and pg_ctl
from Debian's packages, on a free loopback port, in a temp dir, stopped and
removed afterwards. As root the server runs as the `postgres` user (initdb
refuses root). Without the binaries the tests skip and say why
(and fail under CI=true: tests/needs.py)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

SUPERUSER_PASSWORD = "pw-for-tests-only"


@dataclass
class Cluster:
    host: str
    port: int
    user: str
    password: str
    database: str = "postgres"

    def run(self, sql: str) -> None:
        """Run setup SQL as the superuser (pg8000, autocommit)."""
        import pg8000.native

        db = pg8000.native.Connection(self.user, host=self.host, port=self.port, database=self.database, password=self.password)
        try:
            for statement in [s for s in sql.split(";\n") if s.strip()]:
                db.run(statement)
        finally:
            db.close()


def bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root needs runuser to start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *cmd]


def start(port: int) -> tuple[Cluster, callable]:
    """Start a cluster; (cluster, stop)."""
    bindir = bin_dir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's postgresql package (make system-deps)")
    root = tempfile.mkdtemp(prefix="smarter-pg-")
    data, log, pwfile = os.path.join(root, "data"), os.path.join(root, "server.log"), os.path.join(root, "pw")
    with open(pwfile, "w") as f:
        f.write(SUPERUSER_PASSWORD)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (root, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    subprocess.run(
        _as_server_user([f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True, env=env, timeout=120,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20 -c shared_buffers=16MB"
    started = subprocess.run(
        _as_server_user([f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"]),
        capture_output=True, env=env, timeout=90,
    )
    if started.returncode != 0:
        text = open(log).read() if os.path.exists(log) else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.decode()} {text[-2000:]}")

    def stop() -> None:
        subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]), capture_output=True, env=env, timeout=60)
        shutil.rmtree(root, ignore_errors=True)

    return Cluster("127.0.0.1", port, "postgres", SUPERUSER_PASSWORD), stop
