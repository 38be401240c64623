"""Task resources: what a Resource ARN names, and which history events it records.

Step Functions records different history events per kind of resource (AWS "HistoryEvent" in
the API reference): a Lambda function ARN used directly records ``LambdaFunction*`` events,
an activity ARN ``Activity*`` events, and an optimized or SDK service integration
(``arn:aws:states:::service:action``) ``Task*`` events with ``resourceType``/``resource``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "EVENT_NAMES",
    "ResourceKind",
    "ResourceRef",
    "lambda_function_name",
    "parse_resource",
    "waits_for_task_token",
]

ResourceKind = Literal["lambda", "activity", "service"]

#: (kind) -> history event type per phase of a task. Service integrations use Task*.
EVENT_NAMES: dict[ResourceKind, dict[str, str]] = {
    "lambda": {
        "scheduled": "LambdaFunctionScheduled",
        "started": "LambdaFunctionStarted",
        "succeeded": "LambdaFunctionSucceeded",
        "failed": "LambdaFunctionFailed",
        "timed_out": "LambdaFunctionTimedOut",
    },
    "activity": {
        "scheduled": "ActivityScheduled",
        "started": "ActivityStarted",
        "succeeded": "ActivitySucceeded",
        "failed": "ActivityFailed",
        "timed_out": "ActivityTimedOut",
    },
    "service": {
        "scheduled": "TaskScheduled",
        "started": "TaskStarted",
        "submitted": "TaskSubmitted",
        "succeeded": "TaskSucceeded",
        "failed": "TaskFailed",
        "timed_out": "TaskTimedOut",
    },
}

_LAMBDA_ARN = re.compile(
    r"^arn:aws[\w-]*:lambda:(?P<region>[\w-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[\w$-]+))?$"
)
_ACTIVITY_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]+:\d{12}:activity:(?P<name>[\w.-]{1,80})$")
_SERVICE_ARN = re.compile(
    r"^arn:aws[\w-]*:states:(?P<region>[\w-]*):(?P<account>\d{12})?:(?P<service>[\w-]+):"
    r"(?P<action>[A-Za-z0-9_.:-]+?)"
    r"(?P<pattern>\.sync(?::2)?|\.waitForTaskToken)?$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRef:
    """A parsed Resource. ``pattern`` is the integration pattern suffix, if any."""

    arn: str
    kind: ResourceKind
    #: For Lambda ARNs and activities: the function or activity name.
    name: str | None = None
    #: For service integrations: ``resourceType`` and ``resource`` as history shows them.
    service: str | None = None
    action: str | None = None
    pattern: Literal[".sync", ".sync:2", ".waitForTaskToken"] | None = None

    @property
    def waits_for_callback(self) -> bool:
        return self.kind == "activity" or self.pattern is not None

    @property
    def needs_token(self) -> bool:
        return self.kind == "activity" or self.pattern == ".waitForTaskToken"

    def event(self, phase: str) -> str:
        return EVENT_NAMES[self.kind][phase]


@lru_cache(maxsize=1024)
def parse_resource(arn: str) -> ResourceRef | None:
    """Parse a Task's Resource ARN, or return None when it is not one Step Functions knows."""
    if m := _LAMBDA_ARN.match(arn):
        return ResourceRef(arn=arn, kind="lambda", name=m["name"])
    if m := _ACTIVITY_ARN.match(arn):
        return ResourceRef(arn=arn, kind="activity", name=m["name"])
    if m := _SERVICE_ARN.match(arn):
        pattern = m["pattern"]
        action = m["action"]
        resource = action + (pattern or "")
        return ResourceRef(
            arn=arn,
            kind="service",
            service=m["service"],
            action=resource,
            pattern=pattern,  # type: ignore[arg-type]
        )
    return None


def waits_for_task_token(arn: str) -> bool:
    """Whether a Task's Resource is a ``.waitForTaskToken`` integration: its handler's result
    is TaskSubmitted, and the task ends with a callback."""
    ref = parse_resource(arn)
    return ref is not None and ref.pattern == ".waitForTaskToken"


def lambda_function_name(function: str) -> str:
    """The function name inside a FunctionName parameter: a name, a partial or full ARN.

    ``my-fn``, ``my-fn:alias``, ``123456789012:function:my-fn`` and
    ``arn:aws:lambda:us-east-1:123456789012:function:my-fn:1`` all name ``my-fn``
    (Lambda's Invoke API accepts all of these forms).
    """
    parts = function.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]
