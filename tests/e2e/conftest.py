"""A real `frontdesk serve` process on a free port, with its own data folder."""

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
