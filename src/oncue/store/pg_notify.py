"""Waking idle workers of other processes: PostgreSQL LISTEN/NOTIFY.

A transaction that leaves work for others announces it with ``pg_notify`` just before it
commits; PostgreSQL delivers a notification only when (and after) its transaction commits, so
a woken worker always finds the work. The payload is the id of the store that sent it, and a
store ignores its own notifications (its process learns of its own work directly).

One listener thread per store holds one dedicated connection (autocommit, ``LISTEN`` on every
topic) and calls the callbacks watching a topic from that thread: callers hop to their own
loop (``loop.call_soon_threadsafe``). If the connection drops (PostgreSQL restarted), the
thread reconnects with a growing back-off and then calls every callback once, since
notifications sent while it was away are lost: a woken worker looks and finds what it missed.

Notifications are a latency optimisation, never the only path: workers still poll every
``poll_seconds``, which also finds expired leases (nothing notifies a lease running out).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

import psycopg

__all__ = ["TOPICS", "Listener", "channel_name"]

log = logging.getLogger("oncue.store")

#: ``engine``: inbox messages, unleased tasks (and tasks handed back); ``bus``: deliveries,
#: outbox rows, queue messages; ``activity``: activity tasks (what GetActivityTask long polls
#: wait for, without waking for the rest of the engine's work).
TOPICS = ("engine", "bus", "activity")
_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)


def channel_name(topic: str, namespace: str) -> str:
    """The channel of a topic; ``namespace`` (database and schema) keeps two oncue
    installations in one PostgreSQL server (or one database, in two schemas) apart."""
    digest = hashlib.sha1(namespace.encode()).hexdigest()[:12]
    return f"oncue_{topic}_{digest}"


class Listener:
    """The listening thread of one store."""

    def __init__(self, conninfo: str, namespace: str, instance: str) -> None:
        self.conninfo = conninfo
        self.instance = instance
        self.channels = {channel_name(topic, namespace): topic for topic in TOPICS}
        self._callbacks: dict[str, list[Callable[[], None]]] = {topic: [] for topic in TOPICS}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once the first LISTEN is in place (tests and benchmarks wait for it).
        self.listening = threading.Event()

    def watch(self, topic: str, callback: Callable[[], None]) -> Callable[[], None]:
        if topic not in self._callbacks:
            raise ValueError(f"unknown wake-up topic {topic!r}; expected one of {TOPICS}")
        with self._lock:
            self._callbacks[topic].append(callback)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="oncue-pg-listen", daemon=True
                )
                self._thread.start()

        def unwatch() -> None:
            with self._lock:
                if callback in self._callbacks[topic]:
                    self._callbacks[topic].remove(callback)

        return unwatch

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _fire(self, topics: set[str]) -> None:
        with self._lock:
            callbacks = [cb for topic in topics for cb in self._callbacks[topic]]
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one broken watcher must not silence the others
                log.exception("a store wake-up callback failed")

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    for channel in self.channels:
                        connection.execute(f'LISTEN "{channel}"')
                    if failures:
                        # Back after a failure: what was announced meanwhile is lost.
                        self._fire(set(TOPICS))
                    failures = 0
                    self.listening.set()
                    self._listen(connection)
            except psycopg.Error as error:
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                log.warning("store notifications lost (%s); reconnecting in %s s", error, delay)
                self._stop.wait(delay)

    def _listen(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        while not self._stop.is_set():
            topics: set[str] = set()
            # Return after the first packet, with every notification it holds: breaking out
            # of the generator instead would drop the rest of that packet (a commit that
            # announces two topics sends them together).
            for note in connection.notifies(timeout=0.25, stop_after=1):
                if note.payload != self.instance:
                    topics.add(self.channels.get(note.channel, ""))
            topics.discard("")
            if topics:
                self._fire(topics)
