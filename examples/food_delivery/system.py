"""The whole food-ordering system in one process, on the embedded backend.

::

    async with FoodSystem("hybrid", directory, smtp_url=sink.url) as system:
        order = await system.service.place({...})

It opens one oncue App on ``DIRECTORY/oncue.db`` (the engine and the bus), the orders
context's table in ``DIRECTORY/orders.db``, the analytics archive in
``DIRECTORY/datalake/``, and installs the chosen style: choreography, orchestration or
hybrid. The promo-code service listens in the choreographed and hybrid styles; the
orchestrated style runs that step inside its state machine instead. The analytics sink
listens in all three — it is how the demo counts the events each style publishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from food_delivery import analytics, choreography, hybrid, orchestration, promo
from food_delivery.context import STYLES, Context
from food_delivery.events import BUS
from food_delivery.notify import Mailer, Topics
from food_delivery.orders import OrdersTable
from food_delivery.service import Driver, OrdersService
from oncue import App

__all__ = ["FoodSystem"]


class FoodSystem:
    def __init__(
        self,
        style: str,
        directory: str | Path,
        *,
        smtp_url: str,
        clock: Any = None,
        app_options: dict[str, Any] | None = None,
        base_url: str = "",
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got '{style}'")
        self.style = style
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        options = dict(app_options or {})
        if clock is not None:
            options["clock"] = clock
        self.app = App(f"sqlite:///{self.directory / 'oncue.db'}", **options)
        self.app.event_bus(BUS, description="The orders context's events")
        self.orders = OrdersTable(str(self.directory / "orders.db"))
        self.topics = Topics()
        self.archive = analytics.Archive(self.directory / "datalake")
        self.ctx = Context(
            style=style,
            app=self.app,
            orders=self.orders,
            topics=self.topics,
            mailer=Mailer.from_url(smtp_url),
            clock=self.app.clock,
            base_url=base_url,
        )
        driver: Driver
        if style == "choreography":
            driver = choreography.install(self.ctx)
            promo.install(self.ctx)
        elif style == "orchestration":
            driver = orchestration.install(self.ctx)
        else:
            driver = hybrid.install(self.ctx)
        analytics.install(self.ctx, self.archive)
        self.service = OrdersService(self.ctx, driver)

    @property
    def clock(self) -> Any:
        return self.app.clock

    async def __aenter__(self) -> FoodSystem:
        self.topics.bind(asyncio.get_running_loop())
        await self.app.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.app.stop()
        finally:
            self.orders.close()
