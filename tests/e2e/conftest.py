"""A real `frontdesk serve` process on a free port, with its own data folder; where screenshots go."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    """Where browser tests save screenshots (created): $FRONTDESK_ARTIFACTS_DIR, else <repo>/artifacts/screenshots/.

    One folder for every e2e test, so CI uploads one artifact; `/artifacts/` is git-ignored.
    """
    folder = Path(os.environ.get("FRONTDESK_ARTIFACTS_DIR") or REPO / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(data: Path, **extra_env: str) -> Iterator[str]:
    """Run `frontdesk serve` with its data folder in data until the block ends; yields its base URL."""
    port = free_port()
    env = {**os.environ, "FRONTDESK_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("FRONTDESK_DATABASE_URL", None)
    env.update(extra_env)
    exe = Path(sys.executable).with_name("frontdesk")
    log_path = data / f"server-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=data,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 300 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def server_log(data: Path, base: str) -> str:
    """What the server at base printed so far."""
    return (data / f"server-{base.rsplit(':', 1)[1]}.log").read_text()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the server as a user would and wait until it answers; yields its base URL."""
    data = tmp_path_factory.mktemp("live")
    with running_server(data) as base:
        yield base
    output = server_log(data, base)
    assert "Chat demo page:  http://127.0.0.1" in output and "/admin/" in output


def console_login(base: str, email: str, password: str):  # type: ignore[no-untyped-def]
    """Sign in to the server at base through the real form; the returned `auth=` carries the session and CSRF token."""
    from tests.conftest import web_login

    with httpx.Client(base_url=base) as client:
        return web_login(client, email, password)


class ServerProcess:
    """A `frontdesk serve` process a test can stop and start again on the same port and data folder.

    running_server() picks a new port each time; a widget that reconnects after a restart needs the
    same address back, so this keeps the port. Every start appends to the same server-{port}.log,
    which server_log() reads.
    """

    def __init__(self, data: Path, port: int | None = None, **extra_env: str) -> None:
        self.data = data
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FRONTDESK_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.env.pop("FRONTDESK_DATABASE_URL", None)
        self.env.update(extra_env)
        self.log_path = data / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 300) -> str:
        """Start the server and wait until /health answers 200; returns its base URL."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the server is already running")
        exe = Path(sys.executable).with_name("frontdesk")
        with self.log_path.open("a") as log:
            log.write(f"\n----- start {self.starts + 1} -----\n")
            log.flush()
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.data, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {timeout:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.5)

    def stop(self, timeout: float = 30) -> int:
        """Stop the server as an operator would (SIGTERM, then SIGKILL after timeout); returns its exit code."""
        if self.proc is None:
            raise RuntimeError("the server was never started")
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)

    def log(self) -> str:
        """Everything the server printed, over all its starts."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def db(self, sql: str, *args: object) -> list[tuple]:
        """Rows of a query on the server's SQLite database (the default when FRONTDESK_DATABASE_URL is unset)."""
        import sqlite3

        with sqlite3.connect(self.data / "frontdesk.db") as db:
            return db.execute(sql, args).fetchall()

    def demo_login(self) -> tuple[str, str]:
        """The demo console login the server printed once when it seeded the demo bot."""
        import re

        found = re.search(r"Console login \(shown once\): (\S+) / (\S+)", self.log())
        if not found:
            raise AssertionError(f"the server did not print the demo login:\n{self.log()[-2000:]}")
        return found.group(1), found.group(2)


@contextmanager
def restartable_server(data: Path, **extra_env: str) -> Iterator[ServerProcess]:
    """A started ServerProcess, stopped when the block ends whatever state the test left it in."""
    server = ServerProcess(data, **extra_env)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None:
            server.stop()
