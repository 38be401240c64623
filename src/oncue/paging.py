"""Opaque page tokens (``nextToken``) shared by every API: a position as URL-safe base64 JSON.

Each API turns a token it cannot read into its own AWS error (InvalidToken for Step
Functions, a ValidationException-style error for EventBridge).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

__all__ = ["decode_page_token", "encode_page_token"]


def encode_page_token(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_page_token(token: str) -> Any:
    """The position a token carries; ValueError when it is not one of ours."""
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(token.encode()))
        return value
    except (ValueError, binascii.Error):
        raise ValueError(f"not a page token: {token[:32]!r}") from None
