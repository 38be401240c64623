"""GetActivityTask long polls woken by an activity task another store schedules on
PostgreSQL (LISTEN/NOTIFY), well before their next poll; SQLite finds it by polling."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncue.app import App
from oncue.store.pg_notify import TOPICS
from oncue.store.postgres import PostgresStore

pytestmark = pytest.mark.slow

#: Longer than any wake-up the tests accept: only a notification can answer in time.
POLL_SECONDS = 5.0


def review(activity: str) -> dict[str, Any]:
    return {"StartAt": "R", "States": {"R": {"Type": "Task", "Resource": activity, "End": True}}}


def listening(store: PostgresStore) -> None:
    """Until the store's listener is in place (the first watch, maybe in another thread or
    task, starts it)."""
    deadline = time.monotonic() + 10
    while not store.wait_listening(0.1):
        assert time.monotonic() < deadline, "the store never listened"


@pytest.fixture
def two_apps(postgres_url: str) -> Iterator[tuple[App, App]]:
    """Two apps on one database, each with its own store (as two processes have)."""
    scheduler, poller = App(postgres_url, strict=False), App(postgres_url, strict=False)
    try:
        yield scheduler, poller
    finally:
        scheduler.close()
        poller.close()


def test_control_long_poll_is_woken_by_another_store(two_apps: tuple[App, App]) -> None:
    scheduler, poller = two_apps
    activity = str(scheduler.control.create_activity("pack")["activityArn"])
    machine = scheduler.control.create_state_machine("packing", review(activity))
    answer: dict[str, Any] = {}
    control, store = poller.control, poller.store  # opened here, not raced by the thread

    def poll() -> None:
        answer["task"] = control.wait_activity_task(
            activity, "w", wait_seconds=30, poll_seconds=POLL_SECONDS
        )
        answer["at"] = time.monotonic()

    thread = threading.Thread(target=poll)
    thread.start()
    assert isinstance(store, PostgresStore)
    listening(store)
    time.sleep(0.2)  # the first (empty) look is done; the poll waits
    began = time.monotonic()
    scheduler.control.start_execution(str(machine["stateMachineArn"]), '{"box": 1}')
    thread.join(30)
    assert answer["task"]["input"] == '{"box":1}'
    assert answer["at"] - began < 1.0, answer["at"] - began


async def test_app_long_poll_is_woken_by_another_store(two_apps: tuple[App, App]) -> None:
    scheduler, poller = two_apps
    activity = str(scheduler.control.create_activity("pack")["activityArn"])
    machine = scheduler.control.create_state_machine("packing", review(activity))
    async with poller:
        store = poller.store
        assert isinstance(store, PostgresStore)
        await asyncio.to_thread(listening, store)
        poll = asyncio.create_task(poller.get_activity_task(activity, "w", wait_seconds=30))
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.to_thread(
            scheduler.control.start_execution, str(machine["stateMachineArn"]), "{}"
        )
        task = await asyncio.wait_for(poll, 10)
        # The app's own long poll looks again every second by itself.
        assert loop.time() - began < 0.5
        assert task["input"] == "{}"


def test_on_sqlite_another_process_task_is_found_by_polling(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    scheduler, poller = App(url, strict=False), App(url, strict=False)
    try:
        activity = str(scheduler.control.create_activity("pack")["activityArn"])
        machine = scheduler.control.create_state_machine("packing", review(activity))
        answer: dict[str, Any] = {}
        control = poller.control

        def poll() -> None:
            answer["task"] = control.wait_activity_task(activity, wait_seconds=30, poll_seconds=0.1)

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.2)
        scheduler.control.start_execution(str(machine["stateMachineArn"]), "{}")
        thread.join(30)
        assert answer["task"]["input"] == "{}"
    finally:
        scheduler.close()
        poller.close()


def test_every_topic_of_one_commit_reaches_the_other_store(two_apps: tuple[App, App]) -> None:
    """A commit announcing several topics sends them in one packet: each one arrives."""
    sender, listener = two_apps
    heard: dict[str, threading.Event] = {topic: threading.Event() for topic in TOPICS}
    store = listener.store
    assert isinstance(store, PostgresStore)
    for topic, event in heard.items():
        store.watch(topic, event.set)
    listening(store)
    for _ in range(3):
        for event in heard.values():
            event.clear()
        with sender.store.transaction() as tx:
            for topic in TOPICS:
                tx.announce(topic)
        for topic, event in heard.items():
            assert event.wait(5), f"the {topic!r} notification was lost"
