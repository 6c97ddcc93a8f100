"""A throwaway MariaDB server for the MySQL SQL plugin tests: Debian's
mariadb-server (mariadb-install-db and mariadbd), on a free loopback port, in a
temp dir, stopped and removed afterwards (as tests/postgres.py does for
PostgreSQL). As root the server runs as the `mysql` user. Optional TLS: the
server is given a certificate for 127.0.0.1 and `localhost` signed by a CA
made for the run. Without the binaries the tests skip and say why."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

ROOT_PASSWORD = "pw-for-tests-only"


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    tls: dict[str, str] = field(default_factory=dict)  # PEM texts: ca, client_cert, client_key

    def run(self, sql: str, database: str | None = None) -> None:
        """Run setup SQL as root (PyMySQL, autocommit)."""
        import pymysql

        db = pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password, database=database, autocommit=True)
        try:
            with db.cursor() as cursor:
                for statement in [s for s in sql.split(";\n") if s.strip()]:
                    cursor.execute(statement)
        finally:
            db.close()


def binaries() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
    install = shutil.which("mariadb-install-db")
    return (server, install) if server and install else None


def _certificates(root: str) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (cryptography)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem_key(k) -> str:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()

    ca_key = key()
    ca = (x509.CertificateBuilder().subject_name(name("smarter test CA")).issuer_name(name("smarter test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, sans: list[x509.GeneralName]):
        k = key()
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(k.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2)))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), k

    server, server_key = leaf("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client, client_key = leaf("reader", [])
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    files = {"ca.pem": pem(ca), "server.pem": pem(server), "server-key.pem": pem_key(server_key)}
    for file, text in files.items():
        with open(os.path.join(root, file), "w") as f:
            f.write(text)
    return {"ca": pem(ca), "client_cert": pem(client), "client_key": pem_key(client_key)}


def start(port: int, *, tls: bool = False) -> tuple[Server, callable]:
    """Start a server; (server, stop)."""
    found = binaries()
    if found is None:
        raise FileNotFoundError("MariaDB binaries (mariadbd, mariadb-install-db) not found; install Debian's mariadb-server (make system-deps)")
    server_bin, install = found
    root = tempfile.mkdtemp(prefix="smarter-mariadb-")
    data, sock, log = os.path.join(root, "data"), os.path.join(root, "mysqld.sock"), os.path.join(root, "server.log")
    pems = _certificates(root) if tls else {}
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        entry = pwd.getpwnam("mysql")
        for dirpath, _, files in os.walk(root):
            os.chown(dirpath, entry.pw_uid, entry.pw_gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), entry.pw_uid, entry.pw_gid)
    subprocess.run([install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db", *user],
                   check=True, capture_output=True, timeout=180)
    options = ["--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
               f"--log-error={log}", f"--pid-file={os.path.join(root, 'mysqld.pid')}", "--innodb-buffer-pool-size=16M", "--skip-log-bin",
               "--innodb-log-file-size=8M", "--max-connections=30", *user]
    if tls:
        options += [f"--ssl-ca={root}/ca.pem", f"--ssl-cert={root}/server.pem", f"--ssl-key={root}/server-key.pem"]
    process = subprocess.Popen([server_bin, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            text = open(log).read() if os.path.exists(log) else ""
            stop()
            raise RuntimeError(f"mariadbd did not start: {text[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    # Root over TCP with a password (install-db gives root socket-only access first).
    setup = subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e",
                    f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}'; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{ROOT_PASSWORD}'; "
                    "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"],
                   capture_output=True, timeout=30)
    if setup.returncode != 0:
        stop()
        raise RuntimeError(f"mariadb setup failed: {setup.stderr.decode()}")
    return Server("127.0.0.1", port, "root", ROOT_PASSWORD, pems), stop
