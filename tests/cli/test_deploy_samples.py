"""The sample deployment in deploy/: every command line is one oncue accepts, every variable
one oncue reads, the NATS configuration one nats-server accepts; and the operator's worker
options win over the APP's own."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
from cli_support import LAMBDA, Oncue, make_oncue, stop_worker

from nats_support import nats_binary
from oncue.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def exec_start(unit: Path) -> list[str]:
    (line,) = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    # systemd's %i is the instance name: a port for the API, a number or a state machine name.
    return shlex.split(line.removeprefix("ExecStart=").replace("%i", "8000"))


def test_the_samples_are_there() -> None:
    assert [u.name for u in UNITS] == [
        "oncue-api@.service",
        "oncue-worker-queue@.service",
        "oncue-worker@.service",
    ]
    assert (DEPLOY / "oncue.env").exists() and (DEPLOY / "nats-server.conf").exists()


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_units_command_line_is_accepted_by_oncue(unit: Path) -> None:
    program, *args = exec_start(unit)
    assert program.endswith("/oncue")
    name, *rest = args
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"{unit.name}: no command {name!r}"
    # Parses and checks every option as the real command line would, without running it.
    with command.make_context(name, rest) as ctx:
        assert ctx.params["app_spec"] == "orders.app:app"
    text = unit.read_text()
    assert "EnvironmentFile=/etc/oncue/oncue.env" in text and "KillSignal=SIGTERM" in text


def test_every_variable_of_the_environment_file_is_one_oncue_reads() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "src" / "oncue").rglob("*.py"))
    lines = [ln for ln in (DEPLOY / "oncue.env").read_text().splitlines() if "=" in ln]
    names = [ln.split("=", 1)[0] for ln in lines if not ln.startswith("#")]
    assert "ONCUE_DATABASE_URL" in names and "ONCUE_NATS_URL" in names
    for name in names:
        assert re.fullmatch(r"ONCUE_[A-Z_]+", name), name
        assert f'"{name}"' in sources, f"oncue never reads {name}"


def test_the_nats_configuration_is_accepted_by_nats_server() -> None:
    checked = subprocess.run(
        [nats_binary(), "-c", str(DEPLOY / "nats-server.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "is valid" in checked.stderr + checked.stdout


APP = f'''
import threading
import time
from pathlib import Path

from oncue import App

HERE = Path(__file__).parent
app = App(concurrency=100)
running = 0
lock = threading.Lock()


@app.handler
def slow(event):
    global running
    with lock:
        running += 1
        with (HERE / "peaks.log").open("a") as log:
            log.write(f"{{running}}\\n")
    time.sleep(0.2)
    with lock:
        running -= 1
    return event


app.state_machine(
    "slow", {{"StartAt": "S", "States": {{"S": {{"Type": "Task", "Resource": "{LAMBDA}slow",
    "End": True}}}}}}
)
'''


SLOW = {"StartAt": "S", "States": {"S": {"Type": "Task", "Resource": LAMBDA + "slow", "End": True}}}


@pytest.fixture
def oncue(tmp_path: Path) -> Oncue:
    return make_oncue(tmp_path)


def test_worker_options_override_the_apps_own(oncue: Oncue) -> None:
    oncue.write("orders_app.py", APP)
    oncue("state-machine", "create", "slow", oncue.write("slow.json", SLOW))
    # Four executions wait before the worker starts: at the app's concurrency all four
    # tasks would run at once.
    arns = [
        oncue.json("start", "slow", "--input", json.dumps({"n": n}))["executionArn"]
        for n in range(4)
    ]
    worker = oncue.worker("orders_app.py:app", "--concurrency", "1", "--poll-seconds", "0.05")
    try:
        for arn in arns:
            assert oncue.wait_until_finished(arn)["status"] == "SUCCEEDED"
    finally:
        stop_worker(worker)
    peaks = [int(x) for x in (oncue.directory / "peaks.log").read_text().split()]
    assert len(peaks) == 4 and max(peaks) == 1  # the app said 100; the operator said 1
