"""The food-ordering system end to end, per style, on the real clock (no simulated delays).

Run: ``.venv/bin/python benchmarks/bench_food_delivery.py`` (``--orders N``, ``--styles``).

``--orders`` orders are placed at once; every restaurant accepts the moment its screen shows
an order and confirms delivery the moment the confirmation email is out. The figure is
orders per second from the first placement until every order is completed, its confirmation
and voucher delivered over SMTP to the local sink, and every event archived — the whole
flow through the engine, the bus, the orders table and the mail server. Also: the median and
p99 time from placing an order to its confirmation email.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from food_delivery.catalog import RESTAURANTS
from food_delivery.mailsink import MailSink
from food_delivery.system import FoodSystem


async def run(style: str, orders: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as where, MailSink() as sink:
        system = FoodSystem(style, Path(where), smtp_url=sink.url)
        async with system:
            placed_at: dict[str, float] = {}
            confirmed_at: dict[str, float] = {}

            async def restaurant(shop: str) -> None:
                async for message in system.topics.subscribe(f"restaurant:{shop}"):
                    order = message["order"]
                    if message["type"] == "new":
                        await system.service.accept(order["orderId"])
                    elif order["userNotifiedAt"] and order["status"] == "ACCEPTED":
                        confirmed_at.setdefault(order["orderId"], time.perf_counter())
                        await system.service.complete(order["orderId"])

            screens = [asyncio.create_task(restaurant(shop)) for shop in RESTAURANTS]
            await asyncio.sleep(0)
            shops = sorted(RESTAURANTS)
            start = time.perf_counter()

            async def place(n: int) -> None:
                shop = RESTAURANTS[shops[n % len(shops)]]
                request = {"restaurant": shop.id, "items": [{"item": shop.menu[0].id}],
                           "address": "1 Long Lane", "email": f"c{n}@bench.example"}  # fmt: skip
                order = await system.service.place(request)
                placed_at[order.id] = time.perf_counter()

            await asyncio.gather(*(place(n) for n in range(orders)))
            while (
                len(sink.received) < 2 * orders
                or sum(o.status == "COMPLETED" for o in system.orders.all()) < orders
                or len(system.archive.events()) < 5 * orders
            ):
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - start
            for screen in screens:
                screen.cancel()
            waits = sorted(confirmed_at[k] - placed_at[k] for k in confirmed_at)
            return {
                "orders_per_second": orders / elapsed,
                "seconds": elapsed,
                "confirmation_median_ms": statistics.median(waits) * 1000,
                "confirmation_p99_ms": waits[int(0.99 * (len(waits) - 1))] * 1000,
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--styles", default="choreography,orchestration,hybrid")
    args = parser.parse_args()
    for style in args.styles.split(","):
        figures = asyncio.run(run(style, args.orders))
        print(
            f"{style:14} {figures['orders_per_second']:7.1f} orders/s "
            f"({args.orders} in {figures['seconds']:.2f} s); confirmation email "
            f"median {figures['confirmation_median_ms']:.0f} ms, "
            f"p99 {figures['confirmation_p99_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
