"""Running one style on simulated traffic, headlessly, and measuring it.

:func:`run_style` starts a mail sink and the system on a fast clock, lets the simulator place
the planned orders and the restaurants answer, waits until every order has an outcome — or,
for the orders nobody will ever finish, until the order deadline has passed for all of them —
and reads the :class:`~food_delivery.report.RunReport` back from the stores.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from food_delivery.analytics import daily_report
from food_delivery.clock import ScaledClock, app_options
from food_delivery.context import ACCEPTANCE_TIMEOUT_SECONDS, DELIVERY_DEADLINE_SECONDS
from food_delivery.costs import costs
from food_delivery.mailsink import MailSink
from food_delivery.orchestration import MACHINE
from food_delivery.report import RunReport, latency, outcomes
from food_delivery.simulator import Simulator
from food_delivery.system import FoodSystem
from food_delivery.traffic import PlannedOrder
from oncue.bus.trace import trace_tree

__all__ = ["Progress", "run_style", "transitions_of"]

Progress = Callable[[str, dict[str, Any]], None]
#: After the last planned action, how long (simulated) open orders get before the run ends:
#: the longest any style's rules could still need — the delivery deadline and the
#: acceptance timeout — plus a margin.
HORIZON_SECONDS = DELIVERY_DEADLINE_SECONDS + ACCEPTANCE_TIMEOUT_SECONDS + 300


async def transitions_of(system: FoodSystem) -> tuple[int, list[float], Counter[str]]:
    """State transitions (states entered, retries, start and end), durations, statuses."""
    app = system.app
    if MACHINE not in app.state_machine_names:
        return 0, [], Counter()

    def read() -> tuple[int, list[float], Counter[str]]:
        control = app.control
        total, durations, statuses = 0, [], Counter[str]()
        token: str | None = None
        while True:
            page = control.list_executions(app.arn(MACHINE), max_results=1000, next_token=token)
            for execution in page["executions"]:
                statuses[execution["status"]] += 1
                if "stopDate" in execution:
                    durations.append(float(execution["stopDate"]) - float(execution["startDate"]))
                total += _transitions(control, execution["executionArn"])
            token = page.get("nextToken")
            if not token:
                return total, durations, statuses

    return await app.worker.db(read)


async def _waits_for_callbacks(system: FoodSystem) -> bool:
    """Whether the deployed machine has a ``.waitForTaskToken`` Task (Standard only)."""
    app = system.app
    if MACHINE not in app.state_machine_names:
        return False
    described = await app.worker.db(app.control.describe_state_machine, app.arn(MACHINE))
    states = json.loads(str(described["definition"]))["States"]
    return any(str(s.get("Resource", "")).endswith(".waitForTaskToken") for s in states.values())


def _transitions(control: Any, arn: str) -> int:
    entered = scheduled = task_entered = 0
    token: str | None = None
    while True:
        page = control.get_execution_history(
            arn, max_results=1000, next_token=token, include_execution_data=False
        )
        for event in page["events"]:
            kind = event["type"]
            entered += kind.endswith("StateEntered")
            task_entered += kind == "TaskStateEntered"
            scheduled += kind in ("TaskScheduled", "LambdaFunctionScheduled")
        token = page.get("nextToken")
        if not token:
            return entered + max(0, scheduled - task_entered) + 2


async def traces_per_order(system: FoodSystem) -> float:
    """How many separate traces one order's events fall into, on average.

    ``oncue trace`` shows one trace as one causal tree. An order whose events share one trace
    can be followed end to end from any of its events; each extra trace is a gap where the
    causal chain broke (an API call nobody could link to what came before).
    """
    by_order: dict[str, list[str]] = {}
    for event in system.archive.events():
        by_order.setdefault(event["detail"]["orderId"], []).append(event["id"])

    def count() -> float:
        trace_of: dict[str, str] = {}
        totals = []
        for ids in by_order.values():
            traces = set()
            for event_id in ids:
                if event_id not in trace_of:
                    tree = trace_tree(system.app.store, event_id)
                    for found in _event_ids(tree["roots"]):
                        trace_of[found] = str(tree["traceId"])
                traces.add(trace_of.get(event_id, event_id))
            totals.append(len(traces))
        return sum(totals) / len(totals) if totals else 0.0

    return await system.app.worker.db(count)


def _event_ids(nodes: Any) -> list[str]:
    found: list[str] = []
    for node in nodes:
        if node.get("type") == "event":
            found.append(str(node["eventId"]))
        found.extend(_event_ids(node.get("children", [])))
    return found


async def run_style(
    style: str,
    plan: list[PlannedOrder],
    *,
    speed: float = 1000.0,
    directory: str | Path | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run ``plan`` through ``style``; the measured report."""
    with tempfile.TemporaryDirectory(prefix=f"food-{style}-") as scratch:
        where = Path(directory or scratch)
        refuse = [p.email for p in plan if p.flaky_mailbox]
        with MailSink(refuse_first=refuse) as sink:
            clock = ScaledClock(speed)
            system = FoodSystem(
                style, where, smtp_url=sink.url, clock=clock, app_options=app_options(speed)
            )
            started = time.monotonic()
            async with system:
                simulator = Simulator(system.service, system.topics, clock, plan)
                await _drive(system, simulator, clock, progress)
                return await _report(system, simulator, sink, clock, started)


async def _drive(
    system: FoodSystem, simulator: Simulator, clock: ScaledClock, progress: Progress | None
) -> None:
    start = clock.timestamp()
    running = asyncio.create_task(simulator.run())
    done_at: float | None = None
    tick = max(0.01, min(0.2, 5.0 / clock.speed))
    while True:
        await asyncio.sleep(tick)
        if running.done():
            running.result()  # a simulator defect surfaces here
            done_at = done_at or clock.timestamp()
        orders = system.orders.all()
        open_orders = sum(not o.terminal for o in orders)
        if progress is not None:
            progress(system.style, {"orders": orders, "clock": clock.timestamp() - start})
        if done_at is not None and (
            open_orders == 0 or clock.timestamp() - done_at > HORIZON_SECONDS
        ):
            break
    await _settle(system, tick)


async def _settle(system: FoodSystem, tick: float) -> None:
    """Until the events, mails and vouchers stop changing (the bus drains)."""
    last: tuple[int, int, int] | None = None
    steady = 0
    for _ in range(2000):
        now = (len(system.archive.events()), system.ctx.mailer.sent, len(system.orders.vouchers()))
        steady = steady + 1 if now == last else 0
        if steady >= 5:
            return
        last = now
        await asyncio.sleep(tick)


async def _report(
    system: FoodSystem,
    simulator: Simulator,
    sink: MailSink,
    clock: ScaledClock,
    started: float,
) -> RunReport:
    orders = system.orders.all()
    events = system.archive.events()
    kinds = Counter(str(e["detail-type"]) for e in events)
    transitions, durations, statuses = await transitions_of(system)
    waits = [o.decided_at - o.placed_at for o in orders if o.decided_at and o.status in (
        "ACCEPTED", "COMPLETED")]  # fmt: skip
    mailed = [o.user_notified_at - o.placed_at for o in orders if o.user_notified_at]
    finished = [o.ended_at - o.placed_at for o in orders if o.status == "COMPLETED" and o.ended_at]
    first = min((o.placed_at for o in orders), default=clock.timestamp())
    return RunReport(
        style=system.style,
        orders=len(orders),
        outcomes=outcomes(orders),
        acceptance=latency(waits),
        confirmation=latency(mailed),
        completion=latency(finished),
        transitions=transitions,
        executions=sum(statuses.values()),
        execution_status=statuses,
        events=kinds,
        mails=len(sink.received),
        mail_refusals=sink.refused,
        vouchers=len(system.orders.vouchers()),
        late_answers_refused=simulator.stats["answer refused"],
        costs=costs(
            transitions=transitions,
            execution_seconds=durations,
            events=sum(kinds.values()),
            waits_for_callbacks=await _waits_for_callbacks(system),
        ),
        simulated_seconds=clock.timestamp() - first,
        real_seconds=time.monotonic() - started,
        daily={day: daily_report(system.archive, day) for day in system.archive.days()},
        traces_per_order=await traces_per_order(system),
    )
