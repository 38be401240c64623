"""The transport contract (:mod:`oncue.transport.base`), run against every implementation.

The memory transport runs on a virtual clock: an ``ack_wait`` or a nak delay passes by advancing
it. JetStream runs against a real server, where the same waits are the server's timers, so
those tests set them short and let a fetch's timeout cover them. Each test uses a stream and
subjects of its own; the restart test runs a nats-server of its own.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nats_support import NatsServer, shared_nats_url, unique
from oncue.clock import VirtualClock
from oncue.errors import TransportError
from oncue.transport import ConsumerConfig, MemoryTransport, Message, StreamConfig, Transport
from oncue.transport.jetstream import JetStreamTransport

ACK_WAIT = 1.0


@dataclass
class Rig:
    transport: Transport
    stream: str
    prefix: str
    clock: VirtualClock | None

    def subject(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass: the virtual clock moves; a real server's timers run on their
        own while the next fetch waits."""
        if self.clock is not None:
            self.clock.advance(seconds)

    def patience(self, seconds: float) -> float:
        """The fetch timeout that covers a wait of ``seconds``."""
        return 0.2 if self.clock is not None else seconds + 1.0

    async def consumer(self, name: str, **options: float) -> str:
        config = ConsumerConfig(
            durable=name,
            filter_subject=self.subject(name),
            ack_wait=float(options.get("ack_wait", ACK_WAIT)),
            max_deliver=int(options.get("max_deliver", -1)),
            max_ack_pending=int(options.get("max_ack_pending", 1000)),
        )
        await self.transport.ensure_consumer(self.stream, config)
        return name

    async def publish(self, name: str, count: int, *, tag: str = "m") -> None:
        for number in range(count):
            await self.transport.publish(
                self.subject(name), f"{number}".encode(), msg_id=f"{tag}-{name}-{number}"
            )

    async def take(self, durable: str, count: int) -> list[Message]:
        """Exactly ``count`` messages: a fetch may return before all of them are in."""
        taken: list[Message] = []
        while len(taken) < count:
            batch = await self.transport.fetch(self.stream, durable, count - len(taken), 2.0)
            assert batch, f"only {len(taken)} of {count} messages came"
            taken.extend(batch)
        return taken

    async def drain(self, durable: str, *, ack: bool = True, timeout: float = 0.5) -> list[int]:
        """Fetch until nothing comes within ``timeout``; the payloads, in order."""
        seen: list[int] = []
        while True:
            batch = await self.transport.fetch(self.stream, durable, 50, timeout)
            if not batch:
                return seen
            for message in batch:
                seen.append(int(message.payload))
                if ack:
                    await self.transport.ack(message)


@pytest.fixture(params=["memory", "jetstream"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    name = unique("T")
    clock: VirtualClock | None = None
    transport: Transport
    if request.param == "memory":
        clock = VirtualClock()
        transport = MemoryTransport(clock)
    else:
        transport = JetStreamTransport(shared_nats_url())
    prefix = name.lower()
    await transport.ensure_stream(
        StreamConfig(name=name, subjects=(f"{prefix}.>",), duplicate_window=60.0)
    )
    try:
        yield Rig(transport=transport, stream=name, prefix=prefix, clock=clock)
    finally:
        await transport.delete_stream(name)
        await transport.close()


async def test_a_published_message_is_delivered_once_acked(rig: Rig) -> None:
    durable = await rig.consumer("orders")
    ack = await rig.transport.publish(rig.subject("orders"), b'{"n": 1}', msg_id="event-1")
    assert (ack.stream, ack.duplicate) == (rig.stream, False)
    (message,) = await rig.transport.fetch(rig.stream, durable, 10, 2.0)
    assert (message.payload, message.msg_id, message.deliveries) == (b'{"n": 1}', "event-1", 1)
    assert (message.subject, message.stream, message.sequence) == (
        rig.subject("orders"),
        rig.stream,
        ack.sequence,
    )
    await rig.transport.ack(message)
    rig.elapse(ACK_WAIT * 2)
    assert await rig.transport.fetch(rig.stream, durable, 10, rig.patience(ACK_WAIT)) == []


async def test_a_message_id_published_again_is_not_stored_twice(rig: Rig) -> None:
    durable = await rig.consumer("orders")
    first = await rig.transport.publish(rig.subject("orders"), b"1", msg_id="same")
    again = await rig.transport.publish(rig.subject("orders"), b"1", msg_id="same")
    other = await rig.transport.publish(rig.subject("orders"), b"2", msg_id="other")
    assert not first.duplicate and again.duplicate
    assert again.sequence == first.sequence and other.sequence == first.sequence + 1
    assert await rig.drain(durable) == [1, 2]


async def test_an_unacked_message_is_delivered_again_after_ack_wait(rig: Rig) -> None:
    durable = await rig.consumer("orders")
    await rig.publish("orders", 1)
    (first,) = await rig.transport.fetch(rig.stream, durable, 10, 2.0)
    assert await rig.transport.fetch(rig.stream, durable, 10, 0.1) == []  # still in ack_wait
    rig.elapse(ACK_WAIT + 0.01)
    (again,) = await rig.transport.fetch(rig.stream, durable, 10, rig.patience(ACK_WAIT))
    assert (again.sequence, again.deliveries) == (first.sequence, 2)
    await rig.transport.ack(again)


async def test_a_nak_redelivers_after_its_delay_and_term_stops_redelivery(rig: Rig) -> None:
    durable = await rig.consumer("orders", ack_wait=30.0)
    await rig.publish("orders", 2)
    first, second = await rig.take(durable, 2)
    await rig.transport.nak(first, delay=1.0)
    await rig.transport.term(second)
    assert await rig.transport.fetch(rig.stream, durable, 10, 0.2) == []  # the delay runs
    rig.elapse(1.01)
    (again,) = await rig.transport.fetch(rig.stream, durable, 10, rig.patience(1.0))
    assert (int(again.payload), again.deliveries) == (0, 2)
    await rig.transport.nak(again)  # no delay: at once
    (third,) = await rig.transport.fetch(rig.stream, durable, 10, 2.0)
    assert third.deliveries == 3
    await rig.transport.ack(third)
    rig.elapse(31.0)
    assert await rig.transport.fetch(rig.stream, durable, 10, 0.2) == []


async def test_in_progress_keeps_a_slow_message_from_redelivery(rig: Rig) -> None:
    durable = await rig.consumer("orders", ack_wait=ACK_WAIT * 2)
    await rig.publish("orders", 1)
    (message,) = await rig.transport.fetch(rig.stream, durable, 10, 2.0)
    for _ in range(3):  # three in-progress acks, each inside the ack_wait
        rig.elapse(ACK_WAIT)
        if rig.clock is None:
            await asyncio.sleep(ACK_WAIT)  # a real server's ack_wait runs in real time
        await rig.transport.in_progress(message)
    assert await rig.transport.fetch(rig.stream, durable, 10, 0.2) == []
    await rig.transport.ack(message)


async def test_max_deliver_bounds_the_deliveries(rig: Rig) -> None:
    durable = await rig.consumer("orders", max_deliver=2, ack_wait=30.0)
    await rig.publish("orders", 1)
    for expected in (1, 2):
        (message,) = await rig.transport.fetch(rig.stream, durable, 10, 2.0)
        assert message.deliveries == expected
        await rig.transport.nak(message)
    assert await rig.transport.fetch(rig.stream, durable, 10, 0.3) == []


async def test_a_slow_consumer_does_not_hold_up_another(rig: Rig) -> None:
    slow = await rig.consumer("slow", max_ack_pending=2, ack_wait=30.0)
    fast = await rig.consumer("fast")
    await rig.publish("slow", 10)
    await rig.publish("fast", 10)
    held = await rig.take(slow, 2)  # max_ack_pending: nothing more until acks
    assert await rig.transport.fetch(rig.stream, slow, 10, 0.1) == []
    # The other target gets everything, in order, while the slow one holds its messages.
    assert await rig.drain(fast) == list(range(10))
    for message in held:
        await rig.transport.nak(message, delay=0.5)
    rig.elapse(0.6)
    assert sorted(await rig.drain(slow, timeout=rig.patience(0.5))) == list(range(10))
    assert await rig.drain(fast, timeout=0.2) == []


async def test_one_consumer_delivers_in_publish_order(rig: Rig) -> None:
    durable = await rig.consumer("orders")
    await rig.publish("orders", 120)
    assert await rig.drain(durable) == list(range(120))


async def test_fetchers_of_one_durable_share_its_messages(rig: Rig) -> None:
    durable = await rig.consumer("orders")
    await rig.publish("orders", 40)
    first = await rig.take(durable, 25)
    second = await rig.take(durable, 15)
    numbers = [int(m.payload) for m in first + second]
    assert sorted(numbers) == list(range(40)) and len(set(numbers)) == 40
    for message in first + second:
        await rig.transport.ack(message)


async def test_streams_and_consumers_are_ensured_idempotently(rig: Rig) -> None:
    await rig.consumer("orders")
    await rig.publish("orders", 3)
    # Ensured again, with new settings: nothing stored is lost, the consumer keeps its place.
    await rig.transport.ensure_stream(
        StreamConfig(name=rig.stream, subjects=(f"{rig.prefix}.>",), duplicate_window=120.0)
    )
    durable = await rig.consumer("orders", ack_wait=5.0)
    assert await rig.drain(durable) == [0, 1, 2]


async def test_refusals_are_transport_errors(rig: Rig) -> None:
    with pytest.raises(TransportError):
        await rig.transport.publish(f"{unique('nowhere')}.x", b"1", msg_id="x")
    with pytest.raises(TransportError):
        await rig.transport.fetch(rig.stream, "no-such-consumer", 1, 0.1)


# --- JetStream only: the server goes away and comes back ---------------------------------


async def test_jetstream_resumes_after_the_server_restarts(tmp_path: Path) -> None:
    server = NatsServer(tmp_path).start()
    transport = JetStreamTransport(server.url)
    try:
        stream, prefix = unique("R"), unique("r")
        await transport.ensure_stream(StreamConfig(name=stream, subjects=(f"{prefix}.>",)))
        await transport.ensure_consumer(
            stream, ConsumerConfig(durable="c", filter_subject=f"{prefix}.a", ack_wait=ACK_WAIT)
        )
        for number in range(5):
            await transport.publish(f"{prefix}.a", str(number).encode(), msg_id=f"m{number}")
        unacked = await transport.fetch(stream, "c", 2, 2.0)
        if len(unacked) < 2:  # a fetch may return before the second message is in
            unacked += await transport.fetch(stream, "c", 1, 2.0)
        assert [int(m.payload) for m in unacked] == [0, 1]

        server.restart(signal.SIGKILL)  # a crash: acked messages are in the OS's page cache

        published: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20.0
        number = 5
        while number < 10:  # publishes fail while the client reconnects, then go through
            try:
                await transport.publish(f"{prefix}.a", str(number).encode(), msg_id=f"m{number}")
            except TransportError:
                assert loop.time() < deadline, "no publish went through after the restart"
                await asyncio.sleep(0.05)
                continue
            published.append(number)
            number += 1
        # A message id published before the restart is still known: the window survived.
        assert (await transport.publish(f"{prefix}.a", b"0", msg_id="m0")).duplicate
        seen: dict[int, int] = {}
        while len(seen) < 10:
            assert loop.time() < deadline, f"only {sorted(seen)} came back"
            try:
                batch = await transport.fetch(stream, "c", 10, ACK_WAIT + 1.0)
            except TransportError:
                await asyncio.sleep(0.05)
                continue
            for message in batch:
                seen[int(message.payload)] = message.deliveries
                await transport.ack(message)
        assert sorted(seen) == list(range(10))
        assert seen[0] >= 2 and seen[1] >= 2  # fetched before the restart, never acked
    finally:
        await transport.close()
        server.stop()


async def test_jetstream_unreachable_is_a_transport_error_not_a_hang(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)  # a free port nobody listens on
    transport = JetStreamTransport(server.url)
    try:
        with pytest.raises(TransportError, match="cannot connect to NATS"):
            await asyncio.wait_for(transport.publish("x.y", b"1", msg_id="1"), 20.0)
    finally:
        await transport.close()
