"""The HTTP API over real uvicorn: status codes, error bodies, and the live streams."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from food_support import ORDER, make_system, serving, until

from food_delivery.mailsink import MailSink
from oncue import VirtualClock


async def test_api_answers_with_statuses_and_clear_errors(
    tmp_path: Path, sink: MailSink, clock: VirtualClock
) -> None:
    async with make_system("hybrid", tmp_path, sink, clock) as system, serving(
        system, sink
    ) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:  # fmt: skip
        bad = await http.post("/api/orders", json={**ORDER, "email": "nope"})
        assert bad.status_code == 422
        assert bad.json() == {
            "error": "InvalidOrder",
            "message": "email: 'nope' is not a valid email address",
        }
        unknown = await http.post("/api/orders", json={**ORDER, "restaurant": "x"})
        assert unknown.status_code == 404 and unknown.json()["error"] == "UnknownRestaurant"
        garbage = await http.post("/api/orders", content=b"{not json")
        assert garbage.status_code == 400
        assert (await http.get("/api/orders")).json() == []

        async with http.stream("GET", "/api/stream/restaurant/luigis") as stream:
            lines = stream.aiter_lines()
            assert await anext(lines) == ": connected"
            placed = await http.post("/api/orders", json=ORDER)
            assert placed.status_code == 201
            order_id = placed.json()["orderId"]
            seen = []
            while "new" not in seen:
                line = await anext(lines)
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:])["type"])
        early = await http.post(f"/api/orders/{order_id}/complete")
        assert early.status_code == 409
        assert "it was never accepted" in early.json()["message"]
        assert (await http.post(f"/api/orders/{order_id}/accept")).status_code == 200
        again = await http.post(f"/api/orders/{order_id}/accept")
        assert again.status_code == 409 and again.json()["error"] == "OrderStateConflict"
        assert (await http.post(f"/api/orders/{order_id}/eat")).status_code == 404
        assert (await http.get("/api/orders/o-404")).status_code == 404
        await until(lambda: sink.received)
        mail = (await http.get("/api/mail")).json()
        assert mail[0]["subject"] == f"Your order {order_id} is confirmed"
        # The analytics sink gets the "accepted" event by a delivery of its own, which may
        # still be on its way when the mail arrives.
        for _ in range(200):
            report = (await http.get("/api/report")).json()
            if report["restaurants"].get("luigis", {}).get("accepted"):
                break
            await asyncio.sleep(0.05)
        assert report["orders"] == 1 and report["restaurants"]["luigis"]["accepted"] == 1
        for page in ("/", "/customer", "/restaurant/luigis", "/mail"):
            assert (await http.get(page)).status_code == 200
        assert (await http.get("/restaurant/nowhere")).status_code == 404
