"""The live demo: everything in one process, with pages to open in a browser.

It starts the SMTP sink (or uses the server given), the system in the chosen style on a
scaled clock, the web server, and the simulator; prints the URLs; and shows a progress line
until interrupted (Ctrl-C) or until ``duration`` real seconds have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from food_delivery.clock import ScaledClock, app_options
from food_delivery.mailsink import MailSink
from food_delivery.render import progress_line
from food_delivery.simulator import Simulator
from food_delivery.system import FoodSystem
from food_delivery.traffic import generate
from food_delivery.web import create_web_app

__all__ = ["live_demo"]

Say = Callable[[str], None]


async def live_demo(
    *,
    style: str,
    orders: int,
    speed: float,
    pace: float,
    seed: int,
    host: str,
    port: int,
    smtp_url: str | None,
    duration: float | None,
    directory: str | None,
    say: Say,
    progress: Say,
) -> None:
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="oncue-demo-"))
        plan = generate(orders, seed=seed, pace=pace)
        sink: MailSink | None = None
        if smtp_url is None:
            sink = MailSink(refuse_first=[p.email for p in plan if p.flaky_mailbox])
            stack.enter_context(sink)
            smtp_url = sink.url
        clock = ScaledClock(speed)
        base = f"http://{host}:{port}"
        system = FoodSystem(
            style,
            Path(directory),
            smtp_url=smtp_url,
            clock=clock,
            app_options=app_options(speed),
            base_url=base,
        )
        async with system:
            config = uvicorn.Config(
                create_web_app(system, sink), host=host, port=port, log_level="warning"
            )
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if serving.done():
                serving.result()
                return  # the server could not start (the port is taken: uvicorn said so)
            _announce(say, base, style, speed, smtp_url, directory)
            simulator = asyncio.create_task(
                Simulator(system.service, system.topics, clock, plan).run()
            )
            started = time.monotonic()
            try:
                while not server.should_exit:
                    if duration is not None and time.monotonic() - started >= duration:
                        break
                    info = {
                        "orders": system.orders.all(),
                        "clock": (time.monotonic() - started) * speed,
                    }
                    progress(progress_line(style, info))
                    await asyncio.sleep(0.5)
            finally:
                server.should_exit = True
                simulator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await simulator
                await serving


def _announce(say: Say, base: str, style: str, speed: float, smtp: str, where: str) -> None:
    minutes = 600 / speed
    say(f"oncue demo: the article's food-ordering system, {style} style")
    say(f"  time runs {speed:g}x faster: the 10-minute acceptance timeout takes {minutes:g} s")
    say(f"  customer page     {base}/customer")
    say(f"  restaurant screen {base}/restaurant/luigis  (also sakura, curry-house, green-bowl)")
    say(f"  mailbox           {base}/mail   (SMTP server {smtp})")
    say(f"  daily report      {base}/api/report")
    say(f"  data in           {where}")
    say("Press Ctrl-C to stop.")
