"""The store contract: every backend must pass these (SQLite file, SQLite in memory, and the
scale-out backends as they arrive: add their URL to ``BACKENDS``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncue.errors import StoreError
from oncue.store import ExecutionRecord, ExecutionUpdate, NewTask, Store, open_store
from oncue.store.schema import MIGRATIONS

BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql"]


def backend_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of the named backend."""
    if name == "postgresql":
        return str(request.getfixturevalue("postgres_url"))  # skips without PostgreSQL
    return {
        "sqlite-file": f"sqlite:///{tmp_path / 'contract.db'}",
        "sqlite-memory": "sqlite://:memory:",
    }[name]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(backend_url(request.param, request, tmp_path))
    yield opened
    opened.close()


def execution(arn: str = "arn:e:1", start: float = 100.0, **kw: object) -> ExecutionRecord:
    fields: dict[str, object] = {
        "arn": arn,
        "name": arn.rsplit(":", 1)[1],
        "state_machine_arn": "arn:m",
        "revision_id": "r1",
        "status": "RUNNING",
        "input": "{}",
        "start_date": start,
    }
    fields.update(kw)
    return ExecutionRecord(**fields)  # type: ignore[arg-type]


def task(task_id: str, **kw: object) -> NewTask:
    fields: dict[str, object] = {
        "execution_arn": "arn:e:1",
        "task_id": task_id,
        "kind": "handler",
        "target": "fn",
        "resource": "arn:r",
        "payload": "{}",
        "state_name": "S",
        "attempt": 0,
    }
    fields.update(kw)
    return NewTask(**fields)  # type: ignore[arg-type]


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_execution(execution())
        tx.add_messages([("arn:e:1", "{}")])
        raise RuntimeError("crash in the middle")
    with store.read() as tx:
        assert tx.get_execution("arn:e:1") is None
        assert tx.take_messages(10) == []


def test_updates_are_fenced_by_version(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_execution(execution())
    update = ExecutionUpdate(arn="arn:e:1", expected_version=0, status="SUCCEEDED", state="{}")
    with store.transaction() as tx:
        assert tx.update_executions([update]) == 1
        # A second writer that read version 0 loses: its write changes nothing.
        assert tx.update_executions([update]) == 0
        record = tx.get_execution("arn:e:1", with_state=True)
    assert record is not None and record.version == 1 and record.state == "{}"


def test_messages_come_back_in_order_and_once(store: Store) -> None:
    with store.transaction() as tx:
        # Messages belong to executions: a store may claim a message through its execution.
        tx.insert_execution(execution("arn:e:1"))
        tx.insert_execution(execution("arn:e:2"))
        tx.add_messages([("arn:e:1", "a"), ("arn:e:2", "b"), ("arn:e:1", "c")])
    with store.transaction() as tx:
        taken = tx.take_messages(10)
        assert [m.body for m in taken] == ["a", "b", "c"]
        assert [m.body for m in tx.messages_for(["arn:e:1"])] == ["a", "c"]
        tx.delete_messages(m.id for m in taken)
    with store.read() as tx:
        assert not tx.has_messages()


def test_timers_fire_by_due_time(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
        tx.insert_execution(execution("arn:e:2"))
        tx.add_timers([("arn:e:1", "t1", 50.0), ("arn:e:1", "t2", 10.0), ("arn:e:2", "t3", 99.0)])
        assert tx.next_timer() == 10.0
        assert tx.due_timers(60.0, 10) == [("arn:e:1", "t2"), ("arn:e:1", "t1")]
        tx.delete_timers([("arn:e:1", "t2")])
        assert tx.next_timer() == 50.0


def test_task_leases_expire_and_fence_late_results(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_tasks([task("a", owner="w1", lease_until=10.0), task("b")], now=0.0)
        # w2 sees only the unleased task while w1's lease holds...
        claimed = tx.claim_tasks(owner="w2", targets=["fn"], now=5.0, until=20.0, limit=10)
        assert [c.task_id for c in claimed] == ["b"]
        # ...and w1's task once its lease ran out.
        claimed = tx.claim_tasks(owner="w2", targets=["fn"], now=11.0, until=30.0, limit=10)
        assert [c.task_id for c in claimed] == ["a"]
        # w1 comes back late: its result is refused; w2's is accepted.
        assert tx.finish_tasks([("arn:e:1", "a")], "w1") == [False]
        assert tx.finish_tasks([("arn:e:1", "a")], "w2") == [True]
        assert tx.claim_tasks(owner="w3", targets=["other"], now=99.0, until=100.0, limit=9) == []


def test_leases_are_renewed_and_released(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_tasks([task("a", owner="w1", lease_until=10.0)], now=0.0)
        tx.renew_leases("w1", 50.0)
        assert tx.claim_tasks(owner="w2", targets=["fn"], now=20.0, until=60.0, limit=1) == []
        tx.release_leases("w1")
        claimed = tx.claim_tasks(owner="w2", targets=["fn"], now=20.0, until=60.0, limit=1)
        assert [c.task_id for c in claimed] == ["a"]


def test_activity_tasks_go_to_one_poller_oldest_first(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
        tx.add_tasks([task("old", kind="activity", target="arn:act", token="t1")], now=1.0)
        tx.add_tasks([task("new", kind="activity", target="arn:act", token="t2")], now=2.0)
        first = tx.claim_activity_task("arn:act", "p1")
        second = tx.claim_activity_task("arn:act", "p2")
        assert (first and first.task_id, second and second.task_id) == ("old", "new")
        assert tx.claim_activity_task("arn:act", "p3") is None


def test_tokens_open_and_close(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_tokens([("tok", "arn:e:1", "task-1")])
        found = tx.get_token("tok")
        assert found is not None and found.open and found.task_id == "task-1"
        tx.close_tokens([("arn:e:1", "task-1")])
        closed = tx.get_token("tok")
        assert closed is not None and not closed.open
        assert tx.get_token("nope") is None


def test_history_chunks_page_both_ways(store: Store) -> None:
    with store.transaction() as tx:
        tx.append_history([("arn:e:1", 1, 3, "[1,2,3]"), ("arn:e:1", 4, 4, "[4]")])
        tx.append_history([("arn:e:1", 5, 9, "[5]"), ("arn:e:2", 1, 2, "[1]")])
        assert [c[0] for c in tx.history_chunks("arn:e:1", from_id=3, reverse=False, limit=9)] == [
            1,
            4,
            5,
        ]
        assert [c[0] for c in tx.history_chunks("arn:e:1", from_id=4, reverse=True, limit=9)] == [
            4,
            1,
        ]


def test_list_executions_filters_and_pages_newest_first(store: Store) -> None:
    with store.transaction() as tx:
        for i in range(5):
            status = "FAILED" if i % 2 else "RUNNING"
            tx.insert_execution(execution(f"arn:e:{i}", start=float(i), status=status))
        page = tx.list_executions(
            state_machine_arn="arn:m",
            status=None,
            started_after=None,
            started_before=None,
            before=None,
            limit=2,
        )
        assert [r.arn for r in page] == ["arn:e:4", "arn:e:3"]
        rest = tx.list_executions(
            state_machine_arn=None,
            status="FAILED",
            started_after=None,
            started_before=None,
            before=(page[-1].start_date, page[-1].arn),
            limit=10,
        )
        assert [r.arn for r in rest] == ["arn:e:1"]


def test_retention_deletes_only_finished_executions(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_execution(execution("arn:e:old", status="SUCCEEDED", stop_date=10.0))
        tx.insert_execution(execution("arn:e:run"))
        tx.append_history([("arn:e:old", 1, 2, "[]"), ("arn:e:run", 1, 1, "[]")])
        assert tx.finished_before(20.0, 10) == ["arn:e:old"]
        assert tx.delete_executions(["arn:e:old", "arn:e:run"]) == 1
        assert tx.get_execution("arn:e:run") is not None
        assert tx.history_chunks("arn:e:old", from_id=1, reverse=False, limit=5) == []


def test_savepoints_undo_only_their_part(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_execution(execution("arn:e:kept"))
        with pytest.raises(ValueError), tx.savepoint():
            tx.insert_execution(execution("arn:e:undone"))
            raise ValueError
    with store.read() as tx:
        assert tx.get_execution("arn:e:kept") is not None
        assert tx.get_execution("arn:e:undone") is None


def test_migrations_are_applied_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = open_store(f"sqlite:///{path}")
    first.close()
    second = open_store(f"sqlite:///{path}")  # applies nothing, fails nothing
    second.close()
    with sqlite3.connect(path) as db:
        applied = [row[0] for row in db.execute("SELECT version FROM oncue_schema")]
        assert applied == [version for version, _, _ in MIGRATIONS]
        db.execute("INSERT INTO oncue_schema VALUES (999, 'from the future', 0)")
    with pytest.raises(StoreError, match="newer than this oncue understands"):
        open_store(f"sqlite:///{path}")


def test_the_file_uses_wal_and_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(StoreError, match="unsupported database URL"):
        open_store("mysql://localhost/x")
    with pytest.raises(StoreError, match="its path is itself a URL"):
        open_store("sqlite:///postgresql://postgres@localhost/x")
    assert not (tmp_path / "postgresql:").exists() and not Path("postgresql:").exists()
