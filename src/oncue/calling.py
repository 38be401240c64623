"""Calling a user's handler: the one convention the engine and the bus share.

A handler is a plain function, sync or async, taking ``(payload)`` or ``(payload, context)``;
which one is read from its signature (once per function, cached). With ``offload`` a sync
handler runs in a worker thread, so a handler that blocks on I/O does not stall the event loop
and the other handlers. What the handler raises propagates: the caller decides what a failure
means (a failed task, a failed delivery).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Handler", "call"]

Handler = Callable[..., Any]


@functools.lru_cache(maxsize=4096)
def _wants_context(handler: Handler) -> bool:
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


async def call(handler: Handler, payload: Any, context: Any, *, offload: bool) -> Any:
    """The handler's result (awaited if it is awaitable)."""
    args = (payload, context) if _wants_context(handler) else (payload,)
    if offload and not inspect.iscoroutinefunction(handler):
        result = await asyncio.to_thread(handler, *args)
    else:
        result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
