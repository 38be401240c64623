"""Run one execution in memory: the interpreter's driver for tests and ``oncue execute``.

The runner owns the clock, the handlers and the timers; the interpreter owns the semantics.
It feeds events to :class:`~oncue.asl.interpreter.Interpreter` one at a time, in the order
they happen, and carries out the commands it gets back. Sync handlers run inline and async
handlers as asyncio tasks, so a run with the virtual clock is deterministic: the same
definition, input and seed give the same history.

With ``time_skipping`` the clock is virtual: when nothing is left to do but wait for a
timer (a Wait state, a retry back-off, a timeout), the clock jumps to it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncue.asl.commands import (
    ArmTimer,
    CancelTask,
    CancelTimer,
    Event,
    ExecutionInfo,
    RunTask,
    Stop,
    TaskFailed,
    TaskHeartbeat,
    TaskSubmitted,
    TaskSucceeded,
    TimerFired,
)
from oncue.asl.frames import ExecutionState
from oncue.asl.interpreter import Interpreter, Step
from oncue.asl.jsonutil import dumps
from oncue.asl.model import StateMachine
from oncue.asl.resources import waits_for_task_token
from oncue.asl.validate import parse_definition
from oncue.engine.clock import Clock, SystemClock, VirtualClock
from oncue.engine.invoke import (
    Handler,
    HandlerOutcome,
    Resolved,
    TaskContext,
    call_handler,
    request_id_for,
    resolve_handler,
)
from oncue.errors import InvalidInput
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, MAX_PAYLOAD_BYTES, Json

__all__ = ["IDLE_GRACE_SECONDS", "ExecutionResult", "execute", "execute_async"]

#: With time skipping, how long running handlers may go without progress before the
#: execution counts as idle and the virtual clock jumps to the next timer.
IDLE_GRACE_SECONDS = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    execution_arn: str
    status: str
    output: Json = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, history: bool = False) -> dict[str, Json]:
        """The object ``oncue execute`` prints (ARCHITECTURE.md §5)."""
        document: dict[str, Json] = {"status": self.status}
        if self.status == "SUCCEEDED":
            document["output"] = self.output
        else:
            document["error"] = self.error
            document["cause"] = self.cause
        if history:
            document["history"] = self.history
        return document


def execute(
    definition: StateMachine | Mapping[str, Json] | str,
    input: Json = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    time_skipping: bool = True,
    start_time: datetime | None = None,
    name: str = "execution",
    state_machine_name: str = "StateMachine",
    seed: int = 0,
) -> ExecutionResult:
    """Run ``definition`` to completion and return its result and history.

    Raises :class:`~oncue.errors.DefinitionError` for a definition that does not validate and
    :class:`~oncue.errors.InvalidInput` for input over 256 KiB; whatever happens inside the
    execution is in the result, never raised.
    """
    return asyncio.run(
        execute_async(
            definition,
            input,
            handlers=handlers,
            time_skipping=time_skipping,
            start_time=start_time,
            name=name,
            state_machine_name=state_machine_name,
            seed=seed,
        )
    )


async def execute_async(
    definition: StateMachine | Mapping[str, Json] | str,
    input: Json = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    time_skipping: bool = True,
    start_time: datetime | None = None,
    name: str = "execution",
    state_machine_name: str = "StateMachine",
    seed: int = 0,
) -> ExecutionResult:
    machine = definition if isinstance(definition, StateMachine) else parse_definition(definition)
    payload = {} if input is None else input
    if len(dumps(payload).encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"execution input is larger than the {MAX_PAYLOAD_BYTES // 1024} KiB limit"
        )
    clock: Clock = VirtualClock(start_time) if time_skipping else SystemClock()
    run = _Run(machine, dict(handlers or {}), clock, time_skipping)
    return await run.go(payload, name, state_machine_name, seed)


class _Run:
    def __init__(
        self, machine: StateMachine, handlers: dict[str, Handler], clock: Clock, skip: bool
    ) -> None:
        self.interpreter = Interpreter(machine)
        self.handlers = handlers
        self.clock = clock
        self.skip = skip
        self.events: deque[Event] = deque()
        self.timers: list[tuple[datetime, int, str]] = []
        self.live_timers: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.tokens: dict[str, str] = {}
        self.history: list[dict[str, Any]] = []
        self.wakeup = asyncio.Event()
        self.state: ExecutionState | None = None
        self.info: ExecutionInfo | None = None
        self._timer_seq = 0

    async def go(self, payload: Json, name: str, machine_name: str, seed: int) -> ExecutionResult:
        self.info = ExecutionInfo.named(
            name, machine_name, region=DEFAULT_REGION, account=DEFAULT_ACCOUNT
        )
        self.apply(self.interpreter.start(self.info, payload, now=self.clock.now(), seed=seed))
        try:
            await self.loop()
        finally:
            for task in self.tasks.values():
                task.cancel()
        state = self.state
        assert state is not None
        return ExecutionResult(
            execution_arn=self.info.execution_arn,
            status=state.status,
            output=state.output,
            error=state.error,
            cause=state.cause,
            history=self.history,
        )

    def apply(self, step: Step) -> None:
        self.state = step.state
        self.history.extend(step.history)
        for command in step.commands:
            if isinstance(command, RunTask):
                self.start_task(command)
            elif isinstance(command, ArmTimer):
                self._timer_seq += 1
                heapq.heappush(self.timers, (command.due, self._timer_seq, command.timer_id))
                self.live_timers.add(command.timer_id)
            elif isinstance(command, CancelTimer):
                self.live_timers.discard(command.timer_id)
            elif isinstance(command, CancelTask):
                task = self.tasks.pop(command.task_id, None)
                if task is not None:
                    task.cancel()

    def push(self, event: Event) -> None:
        self.events.append(event)
        self.wakeup.set()

    async def loop(self) -> None:
        state = self.state
        assert state is not None
        while not state.finished:
            if self.events:
                event = self.events.popleft()
                self.apply(self.interpreter.step(state, event, now=self.clock.now()))
                continue
            due = self.next_timer()
            if self.tasks and due is None:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            if self.tasks and self.skip and due is not None:
                # Handlers are running. Give them a moment; if every one of them is suspended
                # (awaiting something that does not come), the execution is idle and the
                # virtual clock jumps to the next timer, so a task timeout can be tested.
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=IDLE_GRACE_SECONDS)
                if self.events or not self.tasks:
                    continue
                await self.clock.sleep_until(due)
                self.fire_due_timers()
                continue
            if due is None:
                self.push(
                    Stop(
                        error="States.Runtime",
                        cause="The execution is waiting for a task token callback or activity "
                        "worker that nothing in this process can provide.",
                    )
                )
                continue
            if self.tasks:
                await self.wait_for_timer_or_task(due)
            else:
                await self.clock.sleep_until(due)
            if self.clock.now() >= due:
                self.fire_due_timers()

    def next_timer(self) -> datetime | None:
        while self.timers and self.timers[0][2] not in self.live_timers:
            heapq.heappop(self.timers)
        return self.timers[0][0] if self.timers else None

    async def wait_for_timer_or_task(self, due: datetime) -> None:
        self.wakeup.clear()
        delay = max(0.0, (due - self.clock.now()).total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), timeout=delay)

    def fire_due_timers(self) -> None:
        now = self.clock.now()
        while self.timers and self.timers[0][0] <= now:
            _, _, timer_id = heapq.heappop(self.timers)
            if timer_id in self.live_timers:
                self.live_timers.discard(timer_id)
                self.push(TimerFired(timer_id=timer_id))

    # --- tasks ---------------------------------------------------------------------------

    def start_task(self, command: RunTask) -> None:
        info = self.info
        assert info is not None
        if command.token is not None:
            self.tokens[command.token] = command.task_id
        resolved = resolve_handler(
            command.resource, command.payload, self.handlers, info.region, info.account
        )
        request_id = request_id_for(info.execution_arn, command.task_id)
        context = TaskContext(
            execution_arn=info.execution_arn,
            state_name=command.state_name,
            attempt=command.attempt,
            idempotency_key=f"{info.execution_arn}/{command.task_id}",
            task_token=command.token,
            request_id=request_id,
            _callbacks=_Callbacks(self),
        )
        waits = waits_for_task_token(command.resource)
        coroutine = self._run_task(command, resolved, context, waits)
        self.tasks[command.task_id] = asyncio.ensure_future(coroutine)

    async def _run_task(
        self, command: RunTask, resolved: Resolved, context: TaskContext, waits: bool
    ) -> None:
        callbacks: _Callbacks = context._callbacks
        callbacks.hold = True
        try:
            outcome: HandlerOutcome = await call_handler(resolved, context)
        finally:
            self.tasks.pop(command.task_id, None)
        if outcome.failed:
            self.push(TaskFailed(task_id=command.task_id, error=outcome.error, cause=outcome.cause))
        elif waits:
            self.push(TaskSubmitted(task_id=command.task_id, output=outcome.output))
        else:
            self.push(TaskSucceeded(task_id=command.task_id, output=outcome.output))
        callbacks.release()
        self.wakeup.set()


class _Callbacks:
    """SendTaskSuccess/Failure/Heartbeat from handlers of this run.

    Callbacks a handler makes before it returns are held until its own result is recorded,
    so the history reads TaskSubmitted before TaskSucceeded, as on AWS.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.hold = False
        self.held: list[Event] = []

    def _send(self, event: Event) -> None:
        if self.hold:
            self.held.append(event)
        else:
            self.run.push(event)

    def release(self) -> None:
        self.hold = False
        for event in self.held:
            self.run.push(event)
        self.held.clear()

    def _task(self, token: str) -> str:
        task_id = self.run.tokens.get(token)
        if task_id is None:
            raise InvalidInput(f"unknown or expired task token: {token[:16]}...")
        return task_id

    def send_task_success(self, token: str, output: Json) -> None:
        self._send(TaskSucceeded(task_id=self._task(token), output=output))

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        self._send(TaskFailed(task_id=self._task(token), error=error, cause=cause))

    def send_task_heartbeat(self, token: str) -> None:
        self._send(TaskHeartbeat(task_id=self._task(token)))
