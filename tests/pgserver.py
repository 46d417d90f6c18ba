"""A throwaway PostgreSQL 15 + PostGIS 3 cluster for the tests.

``PgServer.start()`` runs ``initdb`` in a fresh temporary directory (as the ``postgres`` user
when the tests run as root, since PostgreSQL refuses to run as root), starts the server on a
free loopback port with fsync off, waits until it accepts connections, creates the database
``ecozone`` and exposes its URL. ``stop()`` shuts it down and removes the directory.

A missing PostgreSQL or PostGIS is a failure, never a skip: CI installs them
(``apt-get install postgresql-15 postgresql-15-postgis-3``; see .ci/run).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from servers import free_port

INSTALL_HINT = (
    "The PostGIS store tests need PostgreSQL 15 and PostGIS 3 on this machine. On Debian/Ubuntu: "
    "`sudo apt-get install -y postgresql-15 postgresql-15-postgis-3` (CI does this in .ci/run). "
    "Set ECOZONE_PG_BIN to the directory holding initdb/pg_ctl if they live elsewhere."
)


class PostgresUnavailable(RuntimeError):
    pass


def pg_bindir() -> Path:
    """The directory holding initdb and pg_ctl (ECOZONE_PG_BIN, Debian's path, or pg_config)."""
    candidates = [os.environ.get("ECOZONE_PG_BIN"), "/usr/lib/postgresql/15/bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                             check=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PostgresUnavailable(f"PostgreSQL binaries (initdb, pg_ctl) not found. {INSTALL_HINT}")


class PgServer:
    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.as_postgres = os.geteuid() == 0
        self.root: Path | None = None
        self.port: int | None = None
        self.url: str | None = None
        self._started = False

    # -- process helpers -------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")

    def _admin_url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect_admin(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(self._admin_url(dbname), autocommit=True, connect_timeout=10)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, dbname: str = "ecozone") -> str:
        self.root = Path(tempfile.mkdtemp(prefix="ecozone-pg-"))
        atexit.register(self.stop)
        data, sock = self.root / "data", self.root / "sock"
        sock.mkdir()
        if self.as_postgres:
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(f"There is no `postgres` system user to run the server as. {INSTALL_HINT}")
            for path in (self.root, sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        r = self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if r.returncode:
            raise PostgresUnavailable(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        last = ""
        for _ in range(5):  # a free port can be taken between finding it and binding it
            self.port = free_port()
            opts = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            r = self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                          "-o", opts, "start")
            if r.returncode == 0:
                break
            last = r.stdout + r.stderr + self._log_tail()
        else:
            raise PostgresUnavailable(f"PostgreSQL did not start:\n{last}")
        self._started = True
        self._wait_ready()
        with self.connect_admin() as conn:
            have = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
            if not have:
                raise PostgresUnavailable(f"PostgreSQL runs but the PostGIS extension is not installed. {INSTALL_HINT}")
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE template0')
        self.url = self._admin_url(dbname)
        return self.url

    def _log_tail(self) -> str:
        try:
            return "\n" + (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect_admin() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"PostgreSQL is not accepting connections: {exc}{self._log_tail()}")
                time.sleep(0.1)

    def create_database(self, template: str = "template0") -> tuple[str, str]:
        """A new empty database with a unique name: (name, url)."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.connect_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name, self._admin_url(name)

    def drop_database(self, name: str) -> None:
        with self.connect_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.root is None:
            return
        if self._started:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop", timeout=60)
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def start_server() -> PgServer:
    server = PgServer()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
