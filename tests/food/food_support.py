"""Helpers for the food-delivery tests: the system on a virtual clock the tests move by hand,
a wait helper that never waits for a timer, the web app on a free port, service checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from food_delivery.mailsink import MailSink
from food_delivery.system import FoodSystem
from oncue import VirtualClock

STYLES = ("choreography", "orchestration", "hybrid")
CHROMIUM = "/usr/bin/chromium"

ORDER = {
    "restaurant": "luigis",
    "items": [{"item": "margherita", "quantity": 2}],
    "address": "1 Long Lane",
    "email": "ann@customers.example",
}


def require_service(available: bool, reason: str) -> None:
    """Skip without the service, or fail under ONCUE_REQUIRE_SERVICES=1 (CI)."""
    if available:
        return
    if os.environ.get("ONCUE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ONCUE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


async def until(
    check: Callable[[], Any], *, clock: VirtualClock | None = None, tick: float = 0.0
) -> Any:
    """Until ``check()`` is truthy (its value), for at most 20 real seconds.

    With ``tick``, each round also moves the virtual clock ``tick`` seconds: how a test lets
    retry back-offs elapse without sleeping for them.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition never became true: {check}")
        if clock is not None and tick:
            clock.advance(tick)
        await asyncio.sleep(0.02)


async def quiet(system: FoodSystem) -> None:
    """Give the engine and the bus a few cycles (to show that something does NOT happen).

    Waits for the archive to stop changing over ten poll rounds, not for any timer.
    """
    last, steady = -1, 0
    while steady < 10:
        count = len(system.archive.events())
        steady = steady + 1 if count == last else 0
        last = count
        await asyncio.sleep(0.03)


def make_system(style: str, where: Path, sink: MailSink, clock: VirtualClock) -> FoodSystem:
    # The clock only moves when a test says so: no time skipping, a short poll.
    options = {"time_skipping": False, "poll_seconds": 0.02}
    return FoodSystem(style, where, smtp_url=sink.url, clock=clock, app_options=options)


def events_of(system: FoodSystem, order_id: str) -> list[str]:
    return [e["detail-type"] for e in system.archive.events() if e["detail"]["orderId"] == order_id]


@contextlib.asynccontextmanager
async def serving(system: FoodSystem, sink: MailSink) -> AsyncIterator[str]:
    """The web app on a free local port (real uvicorn); its base URL."""
    import uvicorn

    from food_delivery.web import create_web_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_web_app(system, sink), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
