"""The store contract for archives, replays, schedules and connections (migration 3): what
every backend must do, the compare-and-sets that let several dispatchers share the work
included. Runs on every backend of ``test_store.BACKENDS``."""

from __future__ import annotations

from test_store import store  # noqa: F401  (the backend fixture)

from oncue.store import Store
from oncue.store.bus_api_sql import ApiDestinationRecord, ConnectionRecord, ConnectionTx
from oncue.store.bus_archive_sql import (
    ArchivedEvent,
    ArchiveRecord,
    ArchiveTx,
    ReplayRecord,
    ScheduleRecord,
)


def archive(name: str, days: int = 0) -> ArchiveRecord:
    return ArchiveRecord(
        name=name,
        bus="default",
        description=None,
        event_pattern=None,
        retention_days=days,
        state="ENABLED",
        creation_time=0.0,
    )


def event(archive_name: str, event_id: str, time: float, ingested: float) -> ArchivedEvent:
    return ArchivedEvent(
        archive=archive_name,
        event_id=event_id,
        event_time=time,
        ingested=ingested,
        size=10,
        envelope=f'{{"id": "{event_id}"}}',
    )


def test_archived_events_page_in_time_order_and_expire(store: Store) -> None:  # noqa: F811
    with store.transaction() as tx:
        a = ArchiveTx(tx)
        a.insert_archive(archive("week", days=7))
        a.insert_archive(archive("forever"))
        a.insert_archived(
            [event("week", i, t, ingested=t) for i, t in (("c", 30.0), ("a", 10.0), ("b", 10.0))]
        )
        a.insert_archived([event("forever", "a", 10.0, ingested=10.0)])
    with store.read() as tx:
        a = ArchiveTx(tx)
        first = a.archived_page("week", start=0.0, end=100.0, after=None, limit=2)
        assert [e.event_id for e in first] == ["a", "b"]
        rest = a.archived_page("week", start=0.0, end=100.0, after=(10.0, "b"), limit=2)
        assert [e.event_id for e in rest] == ["c"]
        assert [
            e.event_id for e in a.archived_page("week", start=10.0, end=30.0, after=None, limit=9)
        ] == ["a", "b"]
        assert a.archive_stats("week") == (3, 30)
    with store.transaction() as tx:
        assert ArchiveTx(tx).prune_archived(7 * 86400 + 20.0) == 2  # a and b are past 7 days
    with store.read() as tx:
        assert ArchiveTx(tx).archive_stats("week") == (1, 10)
        assert ArchiveTx(tx).archive_stats("forever") == (1, 10)


def test_a_replay_cursor_moves_once_per_read(store: Store) -> None:  # noqa: F811
    with store.transaction() as tx:
        ArchiveTx(tx).insert_replay(
            ReplayRecord(
                name="r",
                archive="a",
                bus="default",
                description=None,
                filter_arns=None,
                event_start=0.0,
                event_end=100.0,
                state="STARTING",
                state_reason=None,
                replay_start=1.0,
            )
        )
    with store.transaction() as tx:
        a = ArchiveTx(tx)
        assert a.advance_replay("r", None, (5.0, "e1"), 1)
        assert not a.advance_replay("r", None, (5.0, "e1"), 1)  # read before the move
        assert a.advance_replay("r", "e1", (9.0, "e2"), 1)
        assert a.set_replay_state("r", "COMPLETED", None, expect=("STARTING",), end=2.0)
        assert not a.set_replay_state("r", "CANCELLING", None, expect=("RUNNING",), end=None)
    with store.read() as tx:
        replay = ArchiveTx(tx).get_replay("r")
    assert replay is not None
    assert (replay.cursor_time, replay.cursor_id, replay.replayed) == (9.0, "e2", 2)
    assert (replay.state, replay.replay_end, replay.last_replayed) == ("COMPLETED", 2.0, 9.0)


def test_a_due_schedule_is_moved_by_one_dispatcher_only(store: Store) -> None:  # noqa: F811
    with store.transaction() as tx:
        ArchiveTx(tx).put_schedule(
            ScheduleRecord(
                bus="default", rule="r", expression="rate(1 minute)", anchor=0.0, next_fire=60.0
            )
        )
    with store.transaction() as tx:
        a = ArchiveTx(tx)
        assert a.next_schedule() == 60.0
        assert a.due_schedules(59.0, 10) == []
        (due,) = a.due_schedules(60.0, 10)
        assert a.move_schedule(due, 120.0, 60.0)
        assert not a.move_schedule(due, 120.0, 60.0)  # another dispatcher read the same row
        moved = a.get_schedule("default", "r")
        assert moved is not None and (moved.next_fire, moved.last_fire) == (120.0, 60.0)
        a.delete_schedule("default", "r")
        assert a.next_schedule() is None


def test_connections_and_destinations_round_trip(store: Store) -> None:  # noqa: F811
    connection = ConnectionRecord(
        name="c",
        arn="arn:aws:events:us-east-1:123456789012:connection/c/1",
        description=None,
        authorization_type="BASIC",
        auth='{"BasicAuthParameters": {"Username": "u", "Password": "p"}}',
        state="AUTHORIZED",
        creation_time=1.0,
        last_modified=1.0,
        last_authorized=1.0,
    )
    destination = ApiDestinationRecord(
        name="d",
        arn="arn:aws:events:us-east-1:123456789012:api-destination/d/1",
        description="x",
        connection=connection.arn,
        endpoint="https://example.com/*",
        http_method="POST",
        rate_limit=5,
        state="ACTIVE",
        creation_time=1.0,
        last_modified=1.0,
    )
    with store.transaction() as tx:
        c = ConnectionTx(tx)
        c.put_connection(connection)
        c.put_destination(destination)
        c.put_connection(connection)  # replacing keeps one row
    with store.read() as tx:
        c = ConnectionTx(tx)
        assert c.get_connection("c") == connection
        assert c.get_destination("d") == destination
        assert c.list_connections("", None, "", 10) == [connection]
        assert c.list_destinations("", connection.arn, "", 10) == [destination]
