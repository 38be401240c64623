"""Fixtures shared by every test directory: the services end-to-end tests run against.

A test that needs a service (PostgreSQL here) skips with the reason when the service is not
reachable, and fails instead when ``ONCUE_REQUIRE_SERVICES=1`` (CI sets it), so a broken CI
machine cannot pass by skipping.

PostgreSQL: each test run creates a database of its own (``oncue_test_<random>``, through
the maintenance database named by ``ONCUE_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``) and drops it at the end; each test gets a
fresh schema in it (``postgres_url``), so concurrent runs and tests never share a table.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

REQUIRE_SERVICES = os.environ.get("ONCUE_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "ONCUE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def service_missing(reason: str) -> NoReturn:
    """Skip the test, or fail it when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ONCUE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def with_schema(url: str, schema: str) -> str:
    """The URL with libpq's ``options`` setting the search_path to ``schema``."""
    joiner = "&" if urlsplit(url).query else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of this run's own PostgreSQL database (dropped at the end of the run)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        service_missing("psycopg is not installed")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        service_missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"oncue_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(POSTGRES_ADMIN_URL, name)
    finally:
        # A connection of its own: a test may have restarted the server meanwhile.
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A database URL whose tables live in a schema of this test's own."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return with_schema(postgres_database, schema)


@pytest.fixture
def private_postgres() -> Iterator[Any]:
    """A PostgreSQL cluster of this test's own (``pg_support.PrivatePostgres``), running; the
    test may restart it. Removed at the end."""
    from pg_support import PrivatePostgres

    cluster = PrivatePostgres()
    try:
        yield cluster.start()
    finally:
        cluster.close()
