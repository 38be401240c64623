"""Shared vocabulary: JSON values and the limits AWS documents."""

from __future__ import annotations

from typing import Any, Final, TypeAlias

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "MAX_PAYLOAD_BYTES",
    "Json",
]

#: Any JSON value once parsed: dict, list, str, int, float, bool or None.
Json: TypeAlias = Any

#: Step Functions' limit on execution input, state input/output and task results
#: ("Maximum input or output size for a task, state, or execution: 256 KiB of data as a
#: UTF-8 encoded string").
MAX_PAYLOAD_BYTES: Final = 256 * 1024

#: The region and account that ARNs carry when nothing else is configured.
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT: Final = "123456789012"
