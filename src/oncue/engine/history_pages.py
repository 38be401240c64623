"""GetExecutionHistory pages over the stored history (one row per transition).

Pages hold ``max_results`` events (1 to 1000, 100 by default), oldest first or, with
``reverse_order``, newest first; ``nextToken`` is the id of the next event to return.
``include_execution_data=False`` drops inputs, outputs and parameters, as on AWS.
"""

from __future__ import annotations

from oncue.asl.jsonutil import loads
from oncue.engine.naming import decode_page_token, encode_page_token
from oncue.store.sql import Tx
from oncue.types import Json

__all__ = ["history_page"]


def history_page(
    tx: Tx,
    arn: str,
    *,
    max_results: int = 100,
    next_token: str | None = None,
    reverse_order: bool = False,
    include_execution_data: bool = True,
) -> dict[str, Json]:
    limit = max(1, min(max_results or 100, 1000))
    position = decode_page_token(next_token) if next_token else None
    start = int(position) if isinstance(position, int) else (2**62 if reverse_order else 1)
    events: list[dict[str, Json]] = []
    more = False
    while len(events) <= limit:
        chunks = tx.history_chunks(arn, from_id=start, reverse=reverse_order, limit=64)
        if not chunks:
            break
        for _, _, text in chunks:
            batch = loads(text)
            assert isinstance(batch, list)
            for event in reversed(batch) if reverse_order else batch:
                assert isinstance(event, dict)
                eid = event["id"]
                assert isinstance(eid, int)
                if (eid < start) if not reverse_order else (eid > start):
                    continue
                events.append(event)
        last = events[-1]["id"] if events else start
        assert isinstance(last, int)
        start = last - 1 if reverse_order else last + 1
        if len(chunks) < 64:
            break
    if len(events) > limit:
        more = True
        events = events[:limit]
    if not include_execution_data:
        events = [_strip_data(e) for e in events]
    response: dict[str, Json] = {"events": list(events)}
    if more:
        last_id = events[-1]["id"]
        assert isinstance(last_id, int)
        response["nextToken"] = encode_page_token(last_id - 1 if reverse_order else last_id + 1)
    return response


_DATA_KEYS = ("input", "output", "parameters")


def _strip_data(event: dict[str, Json]) -> dict[str, Json]:
    """includeExecutionData=false: history without inputs, outputs and parameters."""
    stripped: dict[str, Json] = {}
    for key, value in event.items():
        if isinstance(value, dict) and key.endswith("EventDetails"):
            stripped[key] = {k: v for k, v in value.items() if k not in _DATA_KEYS}
        else:
            stripped[key] = value
    return stripped
