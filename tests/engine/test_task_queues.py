"""Task queues: ``oncue worker`` processes limited to some state machines.

Three real worker processes share one database (a SQLite file, and PostgreSQL): one serves
``alpha``, one ``beta`` (named by ARN), and, started later, one serves ``gamma``. Every worker
has every handler, so only the state-machine limit decides who runs what. Each handler call
appends ``PID STATE_MACHINE`` to an effects file: a worker that advanced an execution of a
machine it does not serve would have leased that execution's next task to itself, so the PIDs
show who ran the transitions as well as the tasks.

``beta`` starts a child execution of ``gamma`` (``.sync``): the child waits, untouched, until a
worker for ``gamma`` starts, and its result then lets the ``beta`` worker finish the parent.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cli.cli_support import Oncue, stop_worker  # tests/ is on the path
from oncue.app import App
from oncue.engine.control import Control
from oncue.errors import InvalidArn, InvalidName, StateMachineNotFound
from oncue.store import open_store

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"

HANDLERS = """
import os
from pathlib import Path

EFFECTS = Path(__file__).with_name("effects.txt")


def step(event, context):
    machine = context.execution_arn.split(":")[6]
    line = f"{os.getpid()} {machine} {context.execution_arn.split(':')[7]}\\n".encode()
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return {"n": event.get("n", 0) + 1}
"""


def task(next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": FN + "step"}
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


ALPHA = {
    "StartAt": "One",
    "States": {
        "One": task("Pause"),
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Two"},  # a timer
        "Two": task(None),
    },
}
BETA = {
    "StartAt": "One",
    "States": {
        "One": task("Child"),
        "Child": {
            "Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": MACHINE + "gamma", "Input": {"n": 10}},
            "ResultSelector": {"n.$": "$.Output.n"},
            "Next": "Two",
        },
        "Two": task(None),
    },
}
GAMMA = {"StartAt": "Only", "States": {"Only": task(None)}}


def effects(directory: Path) -> dict[str, dict[str, set[int]]]:
    """state machine -> execution name -> the PIDs that ran its tasks."""
    path = directory / "effects.txt"
    seen: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    if path.exists():
        for line in path.read_text().splitlines():
            pid, machine, name = line.split()
            seen[machine][name].add(int(pid))
    return seen


def wait_for(check: Any, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", "postgresql"])
def oncue(request: pytest.FixtureRequest, tmp_path: Path) -> Oncue:
    if request.param == "sqlite":
        return Oncue(tmp_path, f"sqlite:///{tmp_path / 'oncue.db'}")
    return Oncue(tmp_path, request.getfixturevalue("postgres_url"))


@pytest.mark.timeout(300)
def test_workers_serve_only_their_state_machines(oncue: Oncue) -> None:
    oncue.write("handlers.py", HANDLERS)
    # This process is a client: its API calls run no handlers (as the CLI's and a server's).
    store = open_store(oncue.database_url)
    control = Control(store)
    for name, definition in (("alpha", ALPHA), ("beta", BETA), ("gamma", GAMMA)):
        control.create_state_machine(name, definition)

    def status(arn: str) -> str:
        return str(control.describe_execution(arn)["status"])

    def of(machine: str) -> list[str]:
        listed = control.list_executions(state_machine_arn=MACHINE + machine)["executions"]
        assert isinstance(listed, list)
        return sorted(str(e["executionArn"]) for e in listed)  # type: ignore[index]

    common = ("--handlers", "handlers.py", "--poll-seconds", "0.2")
    workers: list[subprocess.Popen[str]] = []
    try:
        alpha = oncue.worker(*common, "--state-machine", "alpha")
        workers.append(alpha)
        beta = oncue.worker(*common, "--state-machine", MACHINE + "beta")
        workers.append(beta)
        # StartExecution in this process runs each first transition here and leaves its task
        # unclaimed, so the workers' claims (not only their own transitions) are filtered.
        for machine in ("alpha", "beta", "gamma"):
            for i in range(4):
                control.start_execution(MACHINE + machine, '{"n": 0}', f"{machine}-{i}")
        wait_for(lambda: all(status(arn) == "SUCCEEDED" for arn in of("alpha")))
        # beta reaches its child; the children (and gamma's own executions) wait for a worker.
        wait_for(lambda: len(effects(oncue.directory)["beta"]) == 4)
        time.sleep(1.5)  # several poll intervals: an unserved machine stays untouched
        seen = effects(oncue.directory)
        assert "gamma" not in seen
        assert all(pids == {alpha.pid} for pids in seen["alpha"].values())
        assert all(pids == {beta.pid} for pids in seen["beta"].values())
        gammas, betas = of("gamma"), of("beta")
        assert len(gammas) == 8  # four started here, four children of beta
        assert all(status(arn) == "RUNNING" for arn in [*gammas, *betas])
        with store.read() as tx:  # nobody even leased gamma's tasks
            assert tx.all("SELECT owner FROM tasks WHERE owner IS NOT NULL") == []

        gamma = oncue.worker(*common, "--state-machine", "gamma")
        workers.append(gamma)
        wait_for(lambda: all(status(arn) == "SUCCEEDED" for arn in [*gammas, *betas]))
        seen = effects(oncue.directory)
        assert len(seen["gamma"]) == 8
        assert all(pids == {gamma.pid} for pids in seen["gamma"].values())
        assert all(pids == {beta.pid} for pids in seen["beta"].values())
        assert all(pids == {alpha.pid} for pids in seen["alpha"].values())
        # The child's result reached the parent: One (+1), gamma (10 + 1), Two (+1).
        outputs = [json.loads(str(control.describe_execution(arn)["output"])) for arn in betas]
        assert outputs == [{"n": 12}] * 4
    finally:
        for process in workers:
            if process.poll() is None:
                stop_worker(process, signal.SIGTERM)
        store.close()


def test_app_refuses_a_state_machine_that_does_not_exist(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 'app.db'}", state_machines=["alpha", "missing"])
    app.state_machine("alpha", ALPHA)
    with pytest.raises(StateMachineNotFound, match=f"'{MACHINE}missing'") as refused:
        asyncio.run(app.run(asyncio.Event()))
    assert "alpha'" not in str(refused.value)  # deployed by the app itself: it exists
    app.close()


def test_app_limited_to_a_state_machine_runs_only_its_executions(tmp_path: Path) -> None:
    """In one process: the limited app leaves the other machine's executions alone."""
    ran: list[str] = []

    async def scenario() -> None:
        app = App(f"sqlite:///{tmp_path / 'app.db'}", poll_seconds=0.05, state_machines=["alpha"])

        @app.handler("step")
        def step(event: Any, context: Any) -> Any:
            ran.append(context.execution_arn.split(":")[6])
            return {"n": event.get("n", 0) + 1}

        app.state_machine("alpha", GAMMA)
        app.state_machine("other", GAMMA)
        async with app:
            other = await app.start_execution("other", {"n": 0})
            result = await app.execute("alpha", {"n": 0})
            assert result["status"] == "SUCCEEDED"
            await asyncio.sleep(0.3)
            assert app.control.describe_execution(other)["status"] == "RUNNING"

    asyncio.run(scenario())
    assert ran == ["alpha"]


@pytest.mark.parametrize(
    ("names", "error", "message"),
    [
        (["bad name"], InvalidName, "bad name"),
        ([MACHINE + "alpha:1"], InvalidArn, "unqualified ARN"),
        (["arn:aws:states:us-east-1:123456789012:activity:alpha"], InvalidArn, "activity"),
        ([], InvalidName, "at least one"),
    ],
)
def test_worker_checks_state_machine_names(
    tmp_path: Path, names: list[str], error: type[Exception], message: str
) -> None:
    app = App(f"sqlite:///{tmp_path / 'app.db'}", state_machines=names)
    with pytest.raises(error, match=message):
        app.deploy()
    app.close()
