"""What the interpreter tests share: an execution's identity, a start time, a Lambda ARN."""

from __future__ import annotations

from datetime import UTC, datetime

from oncue.asl.commands import ExecutionInfo

__all__ = ["INFO", "LAMBDA", "T0"]

INFO = ExecutionInfo.named("e", "M", region="us-east-1", account="123456789012")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:f"
