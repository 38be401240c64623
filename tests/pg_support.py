"""A PostgreSQL cluster of a test's own, which the test may stop, crash and restart.

The shared server (``ONCUE_TEST_POSTGRES_URL``) serves every test run on the machine and is
never restarted. A test that restarts PostgreSQL starts a private cluster instead: ``initdb``
into a fresh directory, ``pg_ctl start`` on a free port of 127.0.0.1 (trust authentication, no
Unix socket), with the server's durability settings left as they are (``fsync`` and
``synchronous_commit`` on): a restart, even ``pg_ctl stop -m immediate`` (a crash: recovery
replays the WAL), must lose nothing committed.

The binaries come from ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``. They refuse to
run as root, so under root they run as the ``postgres`` user (``runuser``), in a directory that
user owns. Without the binaries the test skips, or fails with ``ONCUE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from nats_support import unavailable

__all__ = ["PrivatePostgres", "postgres_bindir"]

READY_TIMEOUT = 60.0


def postgres_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (skip, or fail, without one)."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], check=False, capture_output=True, text=True)
        if found.returncode == 0:
            candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if all(os.access(Path(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(directory)
    return unavailable("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


class PrivatePostgres:
    """A throw-away cluster: :meth:`start`, :meth:`restart`, :meth:`close` (removes it)."""

    def __init__(self, *, max_connections: int = 200) -> None:
        self.bindir = postgres_bindir()
        self.port = _free_port()
        self.max_connections = max_connections
        # Not under pytest's tmp_path: the postgres user could not enter a root-only parent.
        self.directory = Path(tempfile.mkdtemp(prefix="oncue-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user to run PostgreSQL")
            self.user = "postgres"
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._initdb()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 120.0) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stderr}\n{log}")

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> PrivatePostgres:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                "-c unix_socket_directories=''",
                f"-c max_connections={self.max_connections}",
                "-c shared_buffers=32MB",
                "-c synchronous_commit=on",
                "-c fsync=on",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        deadline = time.monotonic() + READY_TIMEOUT
        while not _reachable(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not listen:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)  # polling for the port, not waiting for a timer
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (a clean shutdown) or ``immediate`` (a crash: recovery on next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate") -> float:
        """Stop (by default as a crash) and start again on the same port; the seconds taken."""
        began = time.monotonic()
        self.stop(mode)
        self.start()
        return time.monotonic() - began

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already down
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
