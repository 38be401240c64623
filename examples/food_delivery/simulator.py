"""Simulated customers and restaurants driving the orders API on a (fast) clock.

Customers place the planned orders at their planned times. Each restaurant watches its
topic exactly as its screen does and answers the orders it is shown — after the planned
delay, or never — through the same API the screen's buttons call. An answer the API refuses
(accepting after the timeout) is counted, not hidden: it is what a real restaurant would see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta
from typing import Any

from food_delivery.catalog import RESTAURANTS
from food_delivery.notify import Topics
from food_delivery.service import OrdersService
from food_delivery.traffic import PlannedOrder
from oncue.errors import OncueError

__all__ = ["Simulator"]


class Simulator:
    def __init__(
        self, service: OrdersService, topics: Topics, clock: Any, plan: list[PlannedOrder]
    ) -> None:
        self.service = service
        self.topics = topics
        self.clock = clock
        self.plan = plan
        self.by_email = {p.email: p for p in plan}
        self.order_ids: dict[int, str] = {}
        self.stats: Counter[str] = Counter()
        self.refusals: list[str] = []
        self._answered: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._customers_done = asyncio.Event()

    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep_until(self.clock.now() + timedelta(seconds=seconds))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Place every planned order on time; restaurants answer as they are notified."""
        watchers = [asyncio.create_task(self._watch(shop)) for shop in RESTAURANTS]
        await asyncio.sleep(0)  # let the watchers subscribe before the first order
        try:
            start = self.clock.now()
            for planned in self.plan:
                await self.clock.sleep_until(start + timedelta(seconds=planned.at))
                await self._place(planned)
            self._customers_done.set()
            while self._tasks:
                await asyncio.gather(*list(self._tasks))
        finally:
            for watcher in watchers:
                watcher.cancel()
            for watcher in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    @property
    def busy(self) -> bool:
        return not self._customers_done.is_set() or bool(self._tasks)

    async def _place(self, planned: PlannedOrder) -> None:
        try:
            order = await self.service.place(planned.request)
        except OncueError as error:
            self.stats["place refused"] += 1
            self.refusals.append(f"order #{planned.index}: {error}")
            return
        self.order_ids[planned.index] = order.id
        self.stats["placed"] += 1

    async def _watch(self, shop: str) -> None:
        async for message in self.topics.subscribe(f"restaurant:{shop}"):
            if message.get("type") != "new":
                continue
            order = message["order"]
            planned = self.by_email.get(order["email"])
            if planned is None or order["orderId"] in self._answered:
                continue  # not ours, or shown again after a retried notification
            self._answered.add(order["orderId"])
            self._spawn(self._answer(order["orderId"], planned))

    async def _answer(self, order_id: str, planned: PlannedOrder) -> None:
        if planned.decide_after is None:
            self.stats["never answered"] += 1
            return
        await self._sleep(planned.decide_after)
        try:
            if planned.behaviour == "reject":
                await self.service.reject(order_id, "too busy tonight")
                self.stats["rejected"] += 1
                return
            await self.service.accept(order_id)
            self.stats["accepted"] += 1
        except OncueError as error:
            self.stats["answer refused"] += 1
            self.refusals.append(f"{order_id}: {error}")
            return
        if planned.deliver_after is None:
            self.stats["never delivered"] += 1
            return
        await self._sleep(planned.deliver_after)
        try:
            await self.service.complete(order_id)
            self.stats["delivered"] += 1
        except OncueError as error:
            self.stats["delivery refused"] += 1
            self.refusals.append(f"{order_id}: {error}")
