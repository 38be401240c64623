"""One transaction against a SQL store: every read and write the engine makes.

The same statements serve SQLite and PostgreSQL. A ``Tx`` is only ever used inside a store's
``transaction()`` (or ``read()``), which commits it or rolls it back as a whole: the engine's
promise "state, history and commands in one transaction" is this object.
"""

from __future__ import annotations

from oncue.store.sql_base import Cursor, TxBase
from oncue.store.sql_catalog import CatalogStatements
from oncue.store.sql_executions import ExecutionStatements
from oncue.store.sql_work import WorkStatements

__all__ = ["Cursor", "Tx", "TxBase"]


class Tx(CatalogStatements, ExecutionStatements, WorkStatements):
    """The statements of one transaction."""
