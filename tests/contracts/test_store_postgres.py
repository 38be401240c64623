"""What PostgreSQL adds to the store contract: several processes (here: several stores and
threads) sharing one database. Claims never overlap and never wait, an execution is applied
by one transaction at a time, migrations run once however many processes start together, and
a commit wakes the other processes' watchers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import psycopg
import pytest

from oncue.errors import ExecutionAlreadyExists, StoreError
from oncue.store import ExecutionRecord, ExecutionUpdate, NewTask, open_store
from oncue.store.notifier import StoreNotifier
from oncue.store.pg_batch import plan, table_of
from oncue.store.placeholders import to_format_style
from oncue.store.postgres import PostgresStore, split_url
from oncue.store.schema import MIGRATIONS, render


def execution(arn: str) -> ExecutionRecord:
    return ExecutionRecord(
        arn=arn,
        name=arn.rsplit(":", 1)[1],
        state_machine_arn="arn:m",
        revision_id="r1",
        status="RUNNING",
        input="{}",
        start_date=1.0,
    )


@pytest.fixture
def stores(postgres_url: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two processes would have."""
    first, second = open_store(postgres_url), open_store(postgres_url)
    assert isinstance(first, PostgresStore) and isinstance(second, PostgresStore)
    yield first, second
    first.close()
    second.close()


# --- statements written once ---------------------------------------------------------


def test_placeholders_are_rewritten_outside_quotes_and_comments_only() -> None:
    sql = "SELECT '?', \"a?\", x FROM t -- why?\nWHERE a = ? AND b LIKE 'x%' /* ? */ AND c = ?"
    assert to_format_style(sql) == (
        "SELECT '?', \"a?\", x FROM t -- why?\nWHERE a = %s AND b LIKE 'x%%' /* ? */ AND c = %s"
    )
    assert to_format_style("SELECT 'it''s ?' WHERE a = ?") == "SELECT 'it''s ?' WHERE a = %s"
    with pytest.raises(StoreError, match="unterminated quote"):
        to_format_style("SELECT 'oops")


def test_migrations_translate_sqlite_spellings_for_postgresql() -> None:
    ddl = "CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, f REAL, b BLOB)"
    assert render(ddl, "postgresql") == (
        "CREATE TABLE x (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n BIGINT, "
        "f DOUBLE PRECISION, b BYTEA)"
    )
    assert render(ddl, "sqlite") == ddl
    assert render("INSERT INTO t VALUES ('REAL')", "postgresql") == "INSERT INTO t VALUES ('REAL')"


def test_oncue_url_parameters_are_taken_out_and_checked() -> None:
    url, own = split_url("postgres://u@h/db?sslmode=disable&oncue_pool_size=3")
    assert url == "postgresql://u@h/db?sslmode=disable"
    assert own["oncue_pool_size"] == 3
    with pytest.raises(StoreError, match="oncue_idle_tx_seconds"):
        split_url("postgresql://u@h/db?oncue_idle_tx_seconds=-1")


def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at postgresql://u@127"):
        open_store("postgresql://u:secret@127.0.0.1:1/db")


# --- migrations ----------------------------------------------------------------------


def test_migrations_run_once_when_processes_start_together(postgres_url: str) -> None:
    with ThreadPoolExecutor(6) as pool:
        opened = list(pool.map(lambda _: open_store(postgres_url), range(6)))
    for store in opened:
        store.close()
    store = open_store(postgres_url)
    try:
        with store.transaction() as tx:
            applied = [row[0] for row in tx.all("SELECT version FROM oncue_schema ORDER BY 1")]
            assert applied == [version for version, _, _ in MIGRATIONS]
            tx.run("INSERT INTO oncue_schema VALUES (999, 'from the future', 0)")
    finally:
        store.close()
    with pytest.raises(StoreError, match="newer than this oncue understands"):
        open_store(postgres_url)


# --- claims --------------------------------------------------------------------------


def test_an_execution_is_applied_by_one_transaction_at_a_time(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    with first.transaction() as tx:
        for n in range(4):
            tx.insert_execution(execution(f"arn:e:{n}"))
        tx.add_messages([(f"arn:e:{n}", f"m{n}") for n in range(4)])
    with first.transaction() as one:
        taken = one.take_messages(2)
        assert [m.body for m in taken] == ["m0", "m1"]
        with second.transaction() as two:
            # Skips what the other holds instead of waiting for it.
            assert [m.body for m in two.take_messages(10)] == ["m2", "m3"]
            two.delete_messages([m.id for m in two.take_messages(10)])
        one.delete_messages(m.id for m in taken)
    with second.read() as tx:
        assert not tx.has_messages()


def test_a_waiting_transaction_sees_what_the_holder_committed(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """An API call for a busy execution waits for the worker's commit, then reads after it:
    a message the worker applied is not applied again."""
    first, second = stores
    with first.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
        tx.add_messages([("arn:e:1", "applied-by-worker")])
    holding = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with first.transaction() as tx:
            taken = tx.take_messages(10)
            holding.set()
            release.wait(10)
            tx.delete_messages(m.id for m in taken)

    thread = threading.Thread(target=worker)
    thread.start()
    assert holding.wait(10)
    with second.transaction() as tx:
        tx.add_messages([("arn:e:1", "from-the-api")])
        threading.Timer(0.2, release.set).start()
        seen = tx.messages_for(["arn:e:1"])  # waits for the worker's commit
    thread.join(10)
    assert [m.body for m in seen] == ["from-the-api"]


def test_timers_and_tasks_are_claimed_once(stores: tuple[PostgresStore, PostgresStore]) -> None:
    first, second = stores
    with first.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
        tx.insert_execution(execution("arn:e:2"))
        tx.add_timers([("arn:e:1", "t1", 1.0), ("arn:e:2", "t2", 2.0)])
        tx.add_tasks(
            [
                NewTask(
                    execution_arn="arn:e:1",
                    task_id=f"k{n}",
                    kind="handler",
                    target="fn",
                    resource="arn:r",
                    payload="{}",
                    state_name="S",
                    attempt=0,
                )
                for n in range(4)
            ],
            now=0.0,
        )
    with first.transaction() as one, second.transaction() as two:
        assert one.due_timers(10.0, 1) == [("arn:e:1", "t1")]
        assert two.due_timers(10.0, 10) == [("arn:e:2", "t2")]
        mine = one.claim_tasks(owner="w1", targets=["fn"], now=5.0, until=50.0, limit=3)
        theirs = two.claim_tasks(owner="w2", targets=["fn"], now=5.0, until=50.0, limit=3)
        assert len(mine) == 3 and len(theirs) == 1
        assert {c.task_id for c in mine}.isdisjoint(c.task_id for c in theirs)


# --- wake-ups ------------------------------------------------------------------------


def test_a_commit_wakes_other_stores_watchers_and_a_rollback_does_not(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    heard: list[str] = []
    woken = threading.Event()

    def hear(name: str) -> None:
        heard.append(name)
        woken.set()

    unwatch = first.watch("engine", lambda: hear("first"))
    second.watch("engine", lambda: hear("second"))
    assert first.wait_listening() and second.wait_listening()
    with second.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
    with pytest.raises(RuntimeError), second.transaction() as tx:
        tx.add_messages([("arn:e:1", "rolled back")])
        raise RuntimeError
    with second.transaction() as tx:
        tx.add_messages([("arn:e:1", "committed")])  # for an execution it did not lock
    assert woken.wait(5)
    # The committing store does not hear itself; the other hears the commit once.
    with first.transaction() as tx:
        tx.run("SELECT pg_sleep(0.2)")
    assert heard == ["first"]
    unwatch()


def test_a_dropped_connection_is_a_store_error_and_the_next_transaction_works(
    postgres_url: str,
) -> None:
    store = open_store(postgres_url)
    try:
        with store.read() as tx:
            pid = tx.one("SELECT pg_backend_pid()")[0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="PostgreSQL"), store.read() as tx:
            tx.one("SELECT 1")
        with store.read() as tx:  # the pool replaced the dead connection
            assert tx.one("SELECT 1")[0] == 1
    finally:
        store.close()


def test_two_processes_starting_one_name_follow_start_idempotency(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """The second insert waits for the first's commit, then: same input and running, the
    same execution; another input, ExecutionAlreadyExists (not a unique-key error)."""
    first, second = stores
    outcomes: list[str] = []

    def start_again(record: ExecutionRecord) -> None:
        try:
            with second.transaction() as tx:
                tx.insert_execution(record)
            outcomes.append("same execution")
        except ExecutionAlreadyExists:
            outcomes.append("already exists")

    for record in (execution("arn:e:same"), replace(execution("arn:e:other"), input="[1]")):
        with first.transaction() as tx:
            tx.insert_execution(replace(record, input="{}"))
            thread = threading.Thread(target=start_again, args=(record,))
            thread.start()
            thread.join(0.3)
            assert thread.is_alive()  # waiting for this transaction's commit
        thread.join(10)
    assert outcomes == ["same execution", "already exists"]


async def test_the_store_notifier_returns_when_another_process_commits(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    notifier = StoreNotifier(first, "engine")
    waiting = asyncio.ensure_future(notifier())
    await asyncio.sleep(0)
    assert await asyncio.to_thread(first.wait_listening)
    assert not waiting.done()
    with second.transaction() as tx:
        tx.insert_execution(execution("arn:e:1"))
        tx.add_tasks(
            [
                NewTask(
                    execution_arn="arn:e:1",
                    task_id="k",
                    kind="handler",
                    target="fn",
                    resource="arn:r",
                    payload="{}",
                    state_name="S",
                    attempt=0,
                )
            ],
            now=0.0,
        )  # nobody holds it: other workers must hear of it
    await asyncio.wait_for(waiting, 5)
    notifier.close()


def test_queued_writes_are_regrouped_by_table_keeping_each_tables_order() -> None:
    queued: list[tuple[str, tuple[object, ...], str | None]] = [
        ("INSERT INTO tasks (a) VALUES (%s)", (1,), None),
        ("UPDATE executions SET x = %s", (1,), "arn:1"),
        ("INSERT INTO history (a) VALUES (%s)", (1,), None),
        ("INSERT INTO tasks (a) VALUES (%s)", (2,), None),
        ("DELETE FROM tasks WHERE a = %s", (1,), None),
        ("SAVEPOINT sp1", (), None),
        ("INSERT INTO tasks (a) VALUES (%s)", (3,), None),
    ]
    assert [(b.sql.split()[0], b.rows) for b in plan(queued)] == [
        ("INSERT", [(1,), (2,)]),
        ("DELETE", [(1,)]),  # after both inserts into tasks, as queued
        ("UPDATE", [(1,)]),
        ("INSERT", [(1,)]),
        ("SAVEPOINT", [()]),  # nothing moves across it
        ("INSERT", [(3,)]),
    ]
    assert table_of("SELECT pg_notify(%s, %s)") is None


def test_a_stale_fenced_update_fails_the_whole_transaction(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with store.transaction() as tx:
            tx.insert_execution(execution("arn:e:1"))
            tx.insert_execution(execution("arn:e:2"))
        updates = [
            ExecutionUpdate(arn="arn:e:1", expected_version=0, status="RUNNING", state="{}"),
            ExecutionUpdate(arn="arn:e:2", expected_version=7, status="RUNNING", state="{}"),
        ]
        with pytest.raises(StoreError, match=r"arn:e:2 changed"), store.transaction() as tx:
            tx.fence_executions(updates)  # queued: checked when sent, at the latest at commit
        with store.read() as tx:
            record = tx.get_execution("arn:e:1")
            assert record is not None and record.version == 0  # rolled back, all of it
    finally:
        store.close()
