"""The browser side: the orders API, the customer page, the restaurant screens and the
mailbox, live through server-sent events (starlette; served by uvicorn)."""

from __future__ import annotations

from food_delivery.web.routes import create_web_app

__all__ = ["create_web_app"]
