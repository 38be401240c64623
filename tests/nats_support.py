"""NATS for tests: the shared server, or a private nats-server process a test may restart.

Tests that need NATS skip with a reason when it is absent, and fail instead when
``ONCUE_REQUIRE_SERVICES=1`` (CI sets it). The shared server is ``ONCUE_TEST_NATS_URL``
(default ``nats://127.0.0.1:4222``); it is never restarted. A test that restarts NATS starts its
own ``nats-server`` on a free port, with its own store directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

__all__ = ["NatsServer", "nats_binary", "shared_nats_url", "unavailable", "unique"]

SHARED = os.environ.get("ONCUE_TEST_NATS_URL", "nats://127.0.0.1:4222")
READY_TIMEOUT = 15.0


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the run requires its services."""
    if os.environ.get("ONCUE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ONCUE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def shared_nats_url() -> str:
    parts = urlsplit(SHARED)
    if not _reachable(parts.hostname or "127.0.0.1", parts.port or 4222):
        unavailable(f"no NATS server at {SHARED}")
    return SHARED


def nats_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if found is None:
        unavailable("nats-server is not installed")
    return found


def unique(prefix: str = "t") -> str:
    """A name no concurrent test run uses (stream names and subject tokens)."""
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NatsServer:
    """A nats-server of the test's own, with JetStream file storage under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.binary = nats_binary()
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        store = self.directory / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        with (self.directory / "nats-server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not _reachable("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.directory / "nats-server.log").read_text(errors="replace")
                pytest.fail(f"nats-server did not start:\n{log_text[-2000:]}")
            time.sleep(0.02)  # polling for the port, not waiting for a timer
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=30)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop (``SIGKILL``: as a crash) and start again on the same port and store."""
        self.stop(sig)
        self.start()
