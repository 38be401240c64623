"""What every store provides: transactions over the engine's tables.

A store is opened from a URL (``sqlite:///path``, ``sqlite://:memory:``; ``postgresql://``
in the scale-out backend) and hands out :class:`~oncue.store.sql.Tx` transactions. Everything
one ``with store.transaction() as tx:`` block does commits together or not at all; an
exception inside the block rolls it back and propagates.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from oncue.store.sql import Tx

__all__ = ["Store"]


class Store(Protocol):
    url: str
    dialect: str

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only snapshot (no write lock taken)."""
        ...

    def close(self) -> None: ...
