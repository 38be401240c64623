"""The HTTP routes: a JSON API over :class:`~food_delivery.service.OrdersService`, three
pages, and server-sent event streams the pages follow.

Errors answer with the error's HTTP status and ``{"error": NAME, "message": ...}``; a body
that is not JSON is a 400. Nothing here holds business rules: the routes parse, call the
service, and render.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from food_delivery.analytics import daily_report
from food_delivery.catalog import RESTAURANTS
from food_delivery.mailsink import MailSink
from food_delivery.notify import Topics
from food_delivery.system import FoodSystem
from food_delivery.views import order_json
from food_delivery.web import pages
from oncue.errors import OncueError

__all__ = ["create_web_app"]

#: A comment line every few seconds keeps proxies from closing an idle stream.
HEARTBEAT_SECONDS = 15.0

Endpoint = Callable[[Request], Awaitable[Response]]


def _errors(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except OncueError as error:
            body = {"error": error.aws_name, "message": error.message}
            return JSONResponse(body, status_code=error.http_status)

    return guarded


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise _BadJson(f"the request body is not JSON: {error}") from None


class _BadJson(OncueError):
    http_status = 400
    aws_name = "SerializationException"


def create_web_app(system: FoodSystem, sink: MailSink | None = None) -> Starlette:
    service = system.service
    topics = system.topics
    if sink is not None:
        sink.on_mail(lambda mail: topics.publish("mail", {"type": "mail", "mail": mail.json()}))

    def stream(topic_of: Callable[[Request], str]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return _event_stream(topics, topic_of(request))

        return endpoint

    def page(render: Callable[[], str]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return HTMLResponse(render())

        return endpoint

    async def restaurants(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "id": r.id,
                    "name": r.name,
                    "menu": [{"id": m.id, "name": m.name, "priceCents": m.price_cents}
                             for m in r.menu],
                }
                for r in RESTAURANTS.values()
            ]
        )  # fmt: skip

    @_errors
    async def place(request: Request) -> Response:
        order = await service.place(await _body(request))
        return JSONResponse(order_json(order), status_code=201)

    @_errors
    async def list_orders(request: Request) -> Response:
        restaurant = request.query_params.get("restaurant")
        return JSONResponse([order_json(o) for o in service.all(restaurant)])

    @_errors
    async def get_order(request: Request) -> Response:
        return JSONResponse(order_json(service.get(request.path_params["order_id"])))

    @_errors
    async def act(request: Request) -> Response:
        order_id, action = request.path_params["order_id"], request.path_params["action"]
        if action not in ("accept", "reject", "complete"):
            body = {
                "error": "NotFound",
                "message": f"no action '{action}' (accept, reject, complete)",
            }
            return JSONResponse(body, status_code=404)
        if action == "accept":
            order = await service.accept(order_id)
        elif action == "reject":
            body = await _body(request)
            order = await service.reject(order_id, body.get("reason") if body else None)
        else:
            order = await service.complete(order_id)
        return JSONResponse(order_json(order))

    async def mail(request: Request) -> Response:
        received = [] if sink is None else [m.json() for m in sink.received]
        return JSONResponse(received)

    async def report(request: Request) -> Response:
        days = system.archive.days()
        day = request.query_params.get("date") or (days[-1] if days else "")
        return JSONResponse(daily_report(system.archive, day) if day else {"events": 0})

    async def restaurant_page(request: Request) -> Response:
        shop = RESTAURANTS.get(request.path_params["restaurant"])
        if shop is None:
            return HTMLResponse(pages.not_found(request.path_params["restaurant"]), 404)
        return HTMLResponse(pages.restaurant(shop.id, shop.name))

    mail_where = sink.url if sink is not None else system.ctx.mailer.host
    routes = [
        Route("/", page(lambda: pages.index(system.style, mail_where))),
        Route("/customer", page(pages.customer)),
        Route("/restaurant/{restaurant}", restaurant_page),
        Route("/mail", page(lambda: pages.mailbox(mail_where))),
        Route("/api/restaurants", restaurants),
        Route("/api/orders", place, methods=["POST"]),
        Route("/api/orders", list_orders, methods=["GET"]),
        Route("/api/orders/{order_id}", get_order),
        Route("/api/orders/{order_id}/{action:str}", act, methods=["POST"]),
        Route("/api/mail", mail),
        Route("/api/report", report),
        Route("/api/stream/orders", stream(lambda r: "orders")),
        Route("/api/stream/restaurant/{restaurant}",
              stream(lambda r: f"restaurant:{r.path_params['restaurant']}")),
        Route("/api/stream/mail", stream(lambda r: "mail")),
    ]  # fmt: skip
    return Starlette(routes=routes)


def _event_stream(topics: Topics, topic: str) -> StreamingResponse:
    """Server-sent events: one ``data:`` line per message, a comment line when idle."""

    async def events() -> AsyncIterator[str]:
        with topics.listen(topic) as queue:
            yield ": connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                yield f"data: {json.dumps(message)}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
