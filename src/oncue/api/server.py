"""The HTTP server: an ASGI app (starlette) served by uvicorn.

Routes:

- ``POST /``: the AWS JSON protocol (:mod:`.protocol`), dispatched by ``X-Amz-Target`` to the
  Step Functions and EventBridge action tables. The AWS SDKs sign requests with SigV4. By
  default the signature is not verified and any credentials are accepted; given ``keys``
  (access key id -> secret), every request must be signed by one of them (:mod:`.sigv4`).
- ``GET /healthz``: liveness, 200 while the process serves requests.
- ``GET /readyz``: readiness, 200 when the database is reachable with every migration applied
  and the worker (if this process runs one) is running, else 503; the body lists each check.

Shutdown (SIGTERM or SIGINT): readiness turns 503, long polls answer at once and the worker
takes no new tasks; uvicorn stops accepting connections and lets in-flight requests finish;
then the worker stops gracefully (handlers get their grace period, each result is recorded
with the transitions it leads to, unfinished tasks and deliveries go back to the database for
other workers) and the process exits 0. With ``exit_on_second_signal`` (``oncue serve``) a
second signal exits at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import Final

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncue.api.backend import Backend
from oncue.api.events import EVENTS, ONCUE_EVENTS
from oncue.api.operations import Service, bind
from oncue.api.protocol import MAX_BODY_BYTES, check_size, decode_body, encode, error_document
from oncue.api.protocol import resolve as resolve_target
from oncue.api.sigv4 import verify
from oncue.api.sqs import SQS
from oncue.api.stepfunctions import STEP_FUNCTIONS
from oncue.app import App
from oncue.errors import OncueError
from oncue.shutdown import exit_at_once
from oncue.types import Json

__all__ = ["SERVICES", "ApiServer", "create_api"]

log = logging.getLogger("oncue.api")

SERVICES: Final = {
    service.prefix: service for service in (STEP_FUNCTIONS, EVENTS, SQS, ONCUE_EVENTS)
}
#: A body declared or sent beyond this is not read to its end (the connection closes).
DRAIN_LIMIT_BYTES: Final = 16 * MAX_BODY_BYTES


async def _read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY_BYTES of it. A larger body is read on (up to a bound) and
    dropped, so that the client gets the 413 answer instead of a broken pipe."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT_BYTES:
        check_size(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT_BYTES:
            break
    check_size(size)
    return b"".join(chunks)


def _signed_view(request: Request) -> dict[str, str]:
    """Headers by lower-case name, repeated ones joined with commas (as SigV4 signs them)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def create_api(
    app: App, *, worker: bool = True, keys: Mapping[str, str] | None = None
) -> Starlette:
    """The ASGI app serving ``app``'s APIs; with ``worker``, it runs the app's worker too;
    with ``keys``, only requests signed (SigV4) with one of those access keys are served.

    Its lifespan deploys the app (and runs the worker); ``api.state.backend`` is the
    :class:`~oncue.api.backend.Backend`.
    """
    backend = Backend(app, worker=worker)

    async def dispatch(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target")
        # Known before the action is: errors then carry the service's names and content type.
        service: Service | None = SERVICES.get((target or "").partition(".")[0])
        try:
            body = await _read_body(request)
            if keys:
                verify(
                    keys,
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query,
                    headers=_signed_view(request),
                    body=body,
                    now=datetime.now(UTC),
                )
            service, action = resolve_target(target, SERVICES)
            endpoint = f"{request.url.scheme}://{request.url.netloc}"
            arguments = bind(action, decode_body(body), {"endpoint": endpoint})
            status, document = 200, await backend.invoke(service, action, arguments)
        except OncueError as error:
            status, document = error_document(error, service)
        except ClientDisconnect:
            # The client went away before its request arrived: no one to answer.
            return Response(status_code=400)
        except Exception:  # a defect: logged with its traceback, answered without it
            log.exception("request %s failed", request_id)
            internal = OncueError(
                f"An internal error occurred; the server log has the details (request "
                f"{request_id})."
            )
            status, document = error_document(internal, service)
        content_type = service.content_type if service is not None else EVENTS.content_type
        return Response(
            encode(document),
            status_code=status,
            media_type=content_type,
            headers={"x-amzn-RequestId": request_id},
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, checks = await backend.readiness()
        body: dict[str, Json] = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    api = Starlette(
        routes=[
            Route("/", dispatch, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    api.state.backend = backend
    return api


class ApiServer(uvicorn.Server):
    """uvicorn serving :func:`create_api`, with oncue's shutdown.

    A signal marks the backend as draining before uvicorn's graceful shutdown begins, and is
    not raised again afterwards (uvicorn re-raises it by default, which would end the process
    "killed by SIGTERM" instead of exiting 0 like ``oncue worker``).
    """

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        worker: bool = True,
        keys: Mapping[str, str] | None = None,
        log_level: str = "info",
        graceful_seconds: int = 30,
        on_listening: Callable[[int], None] | None = None,
    ) -> None:
        #: Called with the port once the server listens (the OS's choice for port 0).
        self.on_listening = on_listening
        #: A second SIGINT/SIGTERM during the shutdown ends the process at once (``oncue
        #: serve``); off, it only hurries uvicorn along (a server embedded in a program).
        self.exit_on_second_signal = False
        self.api = create_api(app, worker=worker, keys=keys)
        self.backend: Backend = self.api.state.backend
        super().__init__(
            uvicorn.Config(
                self.api,
                host=host,
                port=port,
                lifespan="on",
                log_level=log_level,
                access_log=False,
                timeout_graceful_shutdown=graceful_seconds,
            )
        )

    @property
    def port(self) -> int:
        """The port the server listens on (the one the OS chose for port 0)."""
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening yet")

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_listening is not None:
            self.on_listening(self.port)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.backend.draining and self.exit_on_second_signal:
            exit_at_once(sig)
        self.backend.begin_shutdown()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only; an embedding program stops us
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {number: signal.signal(number, self.handle_exit) for number in handled}
        try:
            yield
        finally:
            for number, handler in original.items():
                signal.signal(number, handler)
