"""The transport on NATS JetStream (nats-py).

- Streams are created with ``add_stream`` and, when one exists with another configuration
  (error 10058), updated to this one: every process may ensure the same stream at start.
- A publish sets the ``Nats-Msg-Id`` header; the server refuses a second message with that id
  inside the stream's ``duplicate_window`` and answers the publish with ``duplicate: true``.
- Consumers are durable pull consumers with ``AckExplicit``, created or updated by
  ``add_consumer`` (the server applies a changed ``ack_wait``, ``max_deliver`` or
  ``max_ack_pending`` to an existing durable), delivering all of the stream from its start.
- Once connected, the connection reconnects for ever; while the server is away a
  call fails with :class:`~oncue.errors.TransportError` and the caller tries again later, and the
  pull subscriptions carry on after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from oncue.errors import TransportError
from oncue.transport.base import ConsumerConfig, Message, PublishAck, StreamConfig

__all__ = ["JetStreamTransport"]

log = logging.getLogger("oncue.transport")
T = TypeVar("T")
#: JetStream's error code for "stream name already in use with a different configuration".
_STREAM_CONFIG_DIFFERS = 10058
#: How long one JetStream API call or publish waits for the server.
_TIMEOUT = 5.0
#: How long one pull request stays open on the server (a new one follows at once).
_PULL_SECONDS = 5.0


class JetStreamTransport:
    def __init__(self, url: str, *, name: str | None = None, timeout: float = _TIMEOUT) -> None:
        self.url = url
        self.name = name or "oncue"
        self.timeout = timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._pullers: dict[tuple[str, str], _Puller] = {}
        self._connecting = asyncio.Lock()
        self._closing = False
        self._generation = 0

    async def _context(self) -> JetStreamContext:
        if self._js is not None:
            return self._js
        async with self._connecting:
            if self._js is None:
                try:
                    self._client = await nats.connect(
                        servers=[self.url],
                        name=self.name,
                        connect_timeout=self.timeout,
                        allow_reconnect=True,
                        # nats-py retries a first connect for ever when reconnects are
                        # unlimited; fail it fast instead (the caller tries again) ...
                        max_reconnect_attempts=1,
                        reconnect_time_wait=0.25,
                        error_cb=_log_error,
                        disconnected_cb=self._disconnected,
                        reconnected_cb=self._reconnected,
                    )
                except Exception as error:  # nats-py raises several unrelated types here
                    raise TransportError(
                        f"cannot connect to NATS at {self.url}: {_describe(error)}"
                    ) from error
                # ... and once connected, reconnect for ever.
                self._client.options["max_reconnect_attempts"] = -1
                self._js = self._client.jetstream(timeout=self.timeout)
        assert self._js is not None
        return self._js

    async def _call(self, what: str, action: Callable[[], Awaitable[T]]) -> T:
        try:
            return await action()
        except TransportError:
            raise
        except (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError) as error:
            raise TransportError(f"NATS {what} failed: {_describe(error)}") from error

    # --- streams and consumers -----------------------------------------------------------

    async def ensure_stream(self, config: StreamConfig) -> None:
        js = await self._context()
        wanted = api.StreamConfig(
            name=config.name,
            subjects=list(config.subjects),
            retention=(
                api.RetentionPolicy.WORK_QUEUE if config.work_queue else api.RetentionPolicy.LIMITS
            ),
            storage=api.StorageType.FILE if config.storage == "file" else api.StorageType.MEMORY,
            num_replicas=config.replicas,
            duplicate_window=config.duplicate_window,
            max_age=config.max_age,
        )

        async def ensure() -> None:
            try:
                await js.add_stream(wanted)
            except nats.js.errors.BadRequestError as error:
                if error.err_code != _STREAM_CONFIG_DIFFERS:
                    raise
                await js.update_stream(wanted)

        await self._call(f"creating stream {config.name}", ensure)

    async def ensure_consumer(self, stream: str, config: ConsumerConfig) -> None:
        js = await self._context()
        wanted = api.ConsumerConfig(
            durable_name=config.durable,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=config.ack_wait,
            max_deliver=config.max_deliver,
            filter_subject=config.filter_subject,
            max_ack_pending=config.max_ack_pending,
        )
        await self._call(
            f"creating consumer {config.durable}", lambda: js.add_consumer(stream, wanted)
        )

    async def delete_stream(self, name: str) -> None:
        js = await self._context()

        async def delete() -> None:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)

        await self._call(f"deleting stream {name}", delete)
        for key in [key for key in self._pullers if key[0] == name]:
            await _quietly(self._pullers.pop(key).subscription.unsubscribe())

    # --- messages ------------------------------------------------------------------------

    async def publish(self, subject: str, payload: bytes, *, msg_id: str) -> PublishAck:
        js = await self._context()
        ack = await self._call(
            f"publishing to {subject}",
            lambda: js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id}),
        )
        return PublishAck(stream=ack.stream, sequence=ack.seq, duplicate=bool(ack.duplicate))

    async def fetch(self, stream: str, durable: str, batch: int, timeout: float) -> list[Message]:
        js = await self._context()
        key = (stream, durable)
        puller = self._pullers.get(key)
        if puller is None:

            async def bind() -> _Puller:
                try:
                    # A pull from a consumer that does not exist would only ever time out.
                    await js.consumer_info(stream, durable)
                except nats.js.errors.NotFoundError as error:
                    raise TransportError(
                        f"consumer {durable} of stream {stream} does not exist"
                    ) from error
                assert self._client is not None
                return await _Puller.open(self._client, stream, durable)

            puller = await self._call(f"binding consumer {durable}", bind)
            self._pullers[key] = puller
        found = await self._call("fetch", lambda: puller.fetch(batch, timeout, self._generation))
        return [_message(msg, durable) for msg in found]

    async def ack(self, message: Message) -> None:
        await self._call("ack", _msg(message).ack)

    async def nak(self, message: Message, delay: float = 0.0) -> None:
        msg = _msg(message)
        await self._call("nak", lambda: msg.nak(delay=delay if delay > 0 else None))

    async def term(self, message: Message) -> None:
        await self._call("term", _msg(message).term)

    async def in_progress(self, message: Message) -> None:
        await self._call("in-progress ack", _msg(message).in_progress)

    async def _reconnected(self) -> None:
        self._generation += 1  # open pull requests were lost with the old connection
        log.warning("reconnected to NATS at %s", self.url)

    async def _disconnected(self) -> None:
        if not self._closing:
            log.warning("disconnected from NATS at %s; reconnecting", self.url)

    async def close(self) -> None:
        self._closing = True
        client, self._client, self._js = self._client, None, None
        self._pullers.clear()
        if client is not None and not client.is_closed:
            await _quietly(client.close())
        self._closing = False


class _Puller:
    """Pull requests to one consumer (``$JS.API.CONSUMER.MSG.NEXT``), answered on one inbox.

    One pull request is kept open at a time, for up to ``batch`` messages and ``_PULL_SECONDS``:
    the server sends each message as soon as the consumer has it, so a delivery costs no round
    trip of its own, and a new request goes out only when the open one is used up, ended by
    the server (404, 408, 409) or expired. (nats-py's ``fetch`` instead waits out its whole
    timeout whenever fewer messages than the batch are there, which would put that timeout into
    every delivery's latency.) Each request replies to an inbox subject of its own, so a late
    status of an earlier request cannot end a later one; a message that arrives while no
    ``fetch`` waits stays queued, a valid delivery, for the next one. After a reconnect the
    open request is gone with the old connection, and a new one is sent.
    """

    def __init__(self, client: Client, stream: str, durable: str, inbox: str) -> None:
        self.client = client
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = inbox
        self.queue: asyncio.Queue[Msg] = asyncio.Queue()
        self.number = 0
        self.subscription: Any = None
        #: The open request's reply subject, what it may still bring, and until when.
        self.current: str | None = None
        self.remaining = 0
        self.until = 0.0
        self.generation = -1

    @classmethod
    async def open(cls, client: Client, stream: str, durable: str) -> _Puller:
        puller = cls(client, stream, durable, client.new_inbox())
        puller.subscription = await client.subscribe(f"{puller.inbox}.*", cb=puller._arrived)
        return puller

    async def _arrived(self, msg: Msg) -> None:
        self.queue.put_nowait(msg)

    def _take(self, msg: Msg, taken: list[Msg]) -> None:
        status = (msg.headers or {}).get(api.Header.STATUS)
        if status is None:
            taken.append(msg)
            self.remaining -= 1
            if self.remaining <= 0:
                self.current = None  # used up
            return
        # A message carries its own subject, not the inbox's; a status names its request.
        if msg.subject != self.current or status == "100":
            return  # a late status of an earlier request, or a heartbeat
        self.current = None  # 404 no messages, 408 expired, 409 limits: ended
        if status == "503":
            raise TransportError("JetStream did not answer the pull (no responders)")

    async def fetch(self, batch: int, timeout: float, generation: int) -> list[Msg]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        taken: list[Msg] = []
        while True:
            while not self.queue.empty() and len(taken) < batch:
                self._take(self.queue.get_nowait(), taken)
            if taken:
                return taken
            now = loop.time()
            if self.current is None or now >= self.until or generation != self.generation:
                self.number += 1
                self.current = f"{self.inbox}.{self.number}"
                self.remaining, self.until, self.generation = batch, now + _PULL_SECONDS, generation
                request = {"batch": batch, "expires": int(_PULL_SECONDS * 1e9)}
                await self.client.publish(
                    self.subject, json.dumps(request).encode(), reply=self.current
                )
            wait = min(deadline, self.until) - loop.time()
            if deadline <= loop.time():
                return taken
            try:
                msg = await asyncio.wait_for(self.queue.get(), max(0.0, wait))
            except TimeoutError:
                continue
            self._take(msg, taken)
            if taken:
                # Let messages that arrived together reach the queue, then take them too.
                await asyncio.sleep(0)
                await asyncio.sleep(0)


def _message(msg: Msg, durable: str) -> Message:
    metadata = msg.metadata
    headers = msg.headers or {}
    return Message(
        subject=msg.subject,
        payload=msg.data,
        msg_id=headers.get("Nats-Msg-Id"),
        stream=metadata.stream,
        consumer=metadata.consumer or durable,
        sequence=metadata.sequence.stream,
        deliveries=metadata.num_delivered or 1,
        handle=msg,
    )


def _msg(message: Message) -> Msg:
    if not isinstance(message.handle, Msg):
        raise TransportError("the message was not delivered by JetStream")
    return message.handle


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception as error:  # closing after the server went away must not raise
        log.debug("ignored while closing: %s", _describe(error))


async def _log_error(error: Exception) -> None:
    log.debug("NATS connection: %s", _describe(error))
