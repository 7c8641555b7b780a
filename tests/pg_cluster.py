"""A private, throwaway PostgreSQL cluster that a test may stop and start at will.

The shared server on 127.0.0.1:5432 serves every other test, so restarting it would disturb them.
`PgCluster` runs `initdb` and `pg_ctl` (as the `postgres` OS user when the tests run as root, since
initdb refuses root) in a temporary folder, on a free port of 127.0.0.1 with trust authentication;
`pg_cluster` is the pytest fixture, skipping only where the binaries or that user are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 60


def find_binary(name: str) -> str | None:
    """The path of a PostgreSQL server program: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return max(candidates, key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0, default=None)


def missing() -> str | None:
    """Why no private cluster can be made here, or None when one can."""
    for name in ("initdb", "pg_ctl"):
        if find_binary(name) is None:
            return f"{name} not found on PATH or in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` OS user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One PostgreSQL cluster in its own folder and port; start(), stop() and restart() it at will."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self._as_postgres = os.geteuid() == 0

    @classmethod
    def create(cls) -> PgCluster:
        """initdb a new cluster in a fresh temporary folder (owned by `postgres` when running as root)."""
        root = Path(tempfile.mkdtemp(prefix="fd-pg-"))  # short: the socket path must stay under 107 bytes
        cluster = cls(root, free_port())
        if cluster._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(root, account.pw_uid, account.pw_gid)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL of a database on this cluster, as Frontdesk's settings take it."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        """Whether the server accepts TCP connections right now."""
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", str(START_TIMEOUT_S), "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session at once (what a restart does), `immediate` aborts."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT_S), "stop")

    def restart(self) -> None:
        """Stop (fast) and start again on the same port and data."""
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """Create a database on the running server; returns its URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url().replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs (immediate) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _run(self, program: str, *args: str) -> None:
        binary = find_binary(program)
        if binary is None:
            raise RuntimeError(f"{program} not found on PATH or in /usr/lib/postgresql/*/bin")
        command = [binary, *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=START_TIMEOUT_S + 30)
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}) after {time.monotonic() - started:.1f} s:\n"
                f"{done.stdout}{done.stderr}\n--- server log ---\n{self.log_tail()}"
            )


@pytest.fixture()
def pg_cluster() -> Iterator[PgCluster]:
    """A running private PostgreSQL cluster, destroyed after the test (skips where none can be made)."""
    reason = missing()
    if reason is not None:
        pytest.skip(f"no private PostgreSQL cluster: {reason}")
    cluster = PgCluster.create()
    try:
        for attempt in range(3):  # the free port may be taken between choosing it and listening on it
            try:
                cluster.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                cluster.port = free_port()
        yield cluster
    finally:
        cluster.destroy()
