"""Running the real ``oncue`` command against a temporary SQLite database, with workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The installed console script, or the module when the script is not on this interpreter.
_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"

HANDLERS = '''
import os
from pathlib import Path

HERE = Path(__file__).parent


def double(event):
    return {"n": event["n"] * 2}


def flaky(event):
    """Fails the first time (leaving a marker file), succeeds from then on."""
    marker = HERE / "flaky.marker"
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("the first attempt fails")
    return {"recovered": True}


def park(event):
    """Hands its task token to the outside world through a file, written atomically."""
    partial = HERE / "token.partial"
    partial.write_text(event["token"])
    os.replace(partial, HERE / "token.txt")
    return None
'''


@dataclass
class Oncue:
    """The ``oncue`` command bound to one database and working directory."""

    directory: Path
    database_url: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "ONCUE_DATABASE_URL": self.database_url}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*COMMAND, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=self.directory,
            env=self.env(),
        )
        if check:
            assert done.returncode == 0, (args, done.returncode, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def write(self, name: str, content: object) -> str:
        path = self.directory / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)

    def wait_until_finished(self, arn: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = self.json("describe", arn)
            if described["status"] not in ("RUNNING", "PENDING_REDRIVE"):
                return described
            assert time.monotonic() < deadline, f"{arn} still {described['status']}"
            time.sleep(0.1)

    def worker(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*COMMAND, "worker", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.directory,
            env=self.env(),
        )
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the worker is configured
        assert first.startswith("oncue worker on "), (
            first,
            process.stderr and process.stderr.read(),
        )
        return process


def stop_worker(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Signal a worker and check it shuts down gracefully, with exit status 0."""
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def make_oncue(directory: Path) -> Oncue:
    directory.mkdir(parents=True, exist_ok=True)
    return Oncue(directory=directory, database_url=f"sqlite:///{directory / 'oncue.db'}")
