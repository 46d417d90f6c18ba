"""A throwaway PostgreSQL 15 + PostGIS cluster for the benchmarks (shared by bench/tiles.py and
bench/run.py): ``initdb`` in a temporary directory, started on a free loopback port, removed
afterwards. Binaries from ECOZONE_PG_BIN, /usr/lib/postgresql/15/bin or ``pg_config --bindir``;
run as the ``postgres`` user (``runuser -u postgres --``) when the benchmark runs as root."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No cluster could be set up here; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path:
    candidates = [os.environ.get("ECOZONE_PG_BIN"), "/usr/lib/postgresql/15/bin"]
    if shutil.which("pg_config"):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    for c in candidates:
        if c and (Path(c) / "initdb").is_file():
            return Path(c)
    raise PostgresUnavailable("PostgreSQL not found (initdb, pg_ctl): install postgresql-15 postgresql-15-postgis-3, "
                              "set ECOZONE_PG_BIN, or pass --database-url")


@contextmanager
def throwaway_postgres(settings: dict[str, str] | None = None):
    """postgresql://postgres@127.0.0.1:PORT/bench on a cluster in a temporary directory.
    ``settings``: extra server settings (``-c name=value``), e.g. shared_buffers."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="ecozone-bench-pg-"))
    as_postgres = os.geteuid() == 0

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [str(bindir / args[0]), *args[1:]]
        if as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, cwd="/")

    if as_postgres:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, port = root / "data", free_port()
    extra = "".join(f" -c {k}={v}" for k, v in (settings or {}).items())
    started = False
    try:
        r = run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if r.returncode:
            raise PostgresUnavailable(f"initdb failed:\n{r.stderr}")
        r = run("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off{extra}",
                "start")
        if r.returncode:
            raise PostgresUnavailable(f"PostgreSQL did not start:\n{r.stdout}{r.stderr}")
        started = True
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        if started:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
