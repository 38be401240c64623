"""Rewriting ``?`` placeholders into the ``%s`` style of psycopg (the "format" paramstyle).

The statements are written once with SQLite's ``?`` (DB-API "qmark"). psycopg reads ``%s``
as a placeholder and ``%`` as the start of one anywhere in the text, so a plain
``replace("?", "%s")`` would be wrong twice over: a ``?`` inside a string literal, a quoted
identifier or a comment is text, not a placeholder, and a literal ``%`` (``LIKE 'a%'``) must
be doubled. This scanner walks the statement once and rewrites only what is outside quotes
and comments; ``%`` is doubled everywhere, as psycopg requires even inside literals.

PostgreSQL's jsonb operators ``?``, ``?|`` and ``?&`` cannot be written in a shared
statement (they would read as placeholders); the shared statements use none.
"""

from __future__ import annotations

from functools import lru_cache

from oncue.errors import StoreError

__all__ = ["to_format_style"]


@lru_cache(maxsize=1024)
def to_format_style(sql: str) -> str:
    """``sql`` with each ``?`` placeholder as ``%s`` and each literal ``%`` as ``%%``."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = _closing(sql, i, char)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise StoreError(f"unterminated comment in SQL statement: {sql[:80]!r}")
            out.append(sql[i : end + 2].replace("%", "%%"))
            i = end + 2
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing(sql: str, start: int, quote: str) -> int:
    """The index just past the quoted text opened at ``start`` (a doubled quote escapes)."""
    i = start + 1
    while True:
        end = sql.find(quote, i)
        if end < 0:
            raise StoreError(f"unterminated quote in SQL statement: {sql[:80]!r}")
        if sql.startswith(quote * 2, end):
            i = end + 2
            continue
        return end + 1
