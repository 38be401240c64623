"""Rule targets: which kinds oncue delivers to, and a target's validated settings.

A target's ``Arn`` says where its events go (PutTargets, ``Target.Arn``). oncue delivers to
four kinds, recognised by the ARN:

====================  ===============================================  =====================
kind                  ARN                                              delivered
====================  ===============================================  =====================
``handler``           ``arn:aws:lambda:R:A:function:NAME[:QUALIFIER]``  the Python handler
                                                                       registered as ``NAME``
``state_machine``     ``arn:aws:states:R:A:stateMachine:NAME[:V]``     StartExecution
``bus``               ``arn:aws:events:R:A:event-bus/NAME``            PutEvents on that bus
``queue``             ``arn:aws:sqs:R:A:NAME``                         a message in the
                                                                       internal queue ``NAME``
``api_destination``   ``arn:aws:events:R:A:api-destination/NAME/ID``   an HTTP request to the
                                                                       API destination
====================  ===============================================  =====================

Handlers and API destinations run outside the store transaction (user code, a remote
server); the other three are carried
out inside the dispatcher's transaction, so they happen exactly once. The other settings are
``Input``/``InputPath``/``InputTransformer`` (:mod:`.transform`), ``RetryPolicy`` and
``DeadLetterConfig`` (:mod:`.retry`); any other field (``RoleArn``, ``SqsParameters`` ...) is
kept and listed back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from oncue.asl.jsonutil import dumps, loads
from oncue.bus.http_params import HttpParameters
from oncue.bus.retry import DeadLetterConfig, RetryPolicy
from oncue.bus.transform import TargetInput, parse_target_input
from oncue.errors import ValidationException
from oncue.store.bus_sql import TargetRecord
from oncue.types import Json

__all__ = [
    "MAX_TARGETS_PER_RULE",
    "Target",
    "TargetKind",
    "classify_arn",
    "parse_target",
    "target_document",
    "target_from_record",
]

TargetKind = Literal["handler", "state_machine", "bus", "queue", "api_destination"]
#: "You can configure up to five targets for each rule" (EventBridge quotas).
MAX_TARGETS_PER_RULE: Final = 5
_MAX_ARN: Final = 1600
_KINDS: Final[tuple[tuple[re.Pattern[str], TargetKind], ...]] = (
    (
        re.compile(r"arn:aws[\w-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[\w-]+)(:[\w$-]+)?"),
        "handler",
    ),
    (
        re.compile(r"arn:aws[\w-]*:states:[a-z0-9-]+:\d{12}:stateMachine:(?P<name>[^:]+)(:.+)?"),
        "state_machine",
    ),
    (
        re.compile(r"arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus/(?P<name>[/.\-\w]+)"),
        "bus",
    ),
    (
        re.compile(
            r"arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:api-destination/"
            r"(?P<name>[\.\-_A-Za-z0-9]{1,64})(/[0-9a-fA-F-]+)?"
        ),
        "api_destination",
    ),
    (re.compile(r"arn:aws[\w-]*:sqs:[a-z0-9-]+:\d{12}:(?P<name>[\w-]{1,80})"), "queue"),
)
_OPTIONS: Final = (
    "Id",
    "Arn",
    "Input",
    "InputPath",
    "InputTransformer",
    "RetryPolicy",
    "DeadLetterConfig",
)


def classify_arn(arn: str) -> tuple[TargetKind, str] | None:
    """The kind of target an ARN names and its name there (handler, bus or queue name; the
    whole ARN for a state machine); None for a kind oncue does not deliver to."""
    for pattern, kind in _KINDS:
        match = pattern.fullmatch(arn)
        if match is not None:
            return kind, arn if kind == "state_machine" else match["name"]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A validated target of one rule."""

    bus: str
    rule: str
    id: str
    arn: str
    kind: TargetKind
    #: The handler, bus or queue name; the state machine's ARN.
    name: str
    input: TargetInput
    retry: RetryPolicy
    dead_letter: DeadLetterConfig | None
    record: TargetRecord = field(repr=False)
    #: ``HttpParameters`` (API destinations).
    http: HttpParameters | None = None


def parse_target(bus: str, rule: str, document: Mapping[str, Json]) -> Target:
    """Validate one entry of PutTargets' ``Targets``; ValidationException says what is wrong."""
    target_id = document.get("Id")
    arn = document.get("Arn")
    if not isinstance(arn, str) or not 1 <= len(arn) <= _MAX_ARN:
        raise ValidationException(f"Parameter Arn of target {target_id} is not valid.")
    classified = classify_arn(arn)
    if classified is None:
        raise ValidationException(
            f"Parameter {arn} is not valid. Reason: oncue delivers to Lambda functions (Python "
            "handlers), state machines, event buses, API destinations and SQS queues only."
        )
    kind, name = classified
    spec = parse_target_input(document)
    retry_document = document.get("RetryPolicy")
    retry = RetryPolicy.from_api(retry_document)
    dead_document = document.get("DeadLetterConfig")
    dead_letter = DeadLetterConfig.from_api(dead_document)
    http = HttpParameters.from_api(document.get("HttpParameters"))
    extra = {key: value for key, value in document.items() if key not in _OPTIONS}
    transformer = document.get("InputTransformer")
    record = TargetRecord(
        bus=bus,
        rule=rule,
        id=str(target_id),
        arn=arn,
        input=spec.input,
        input_path=spec.input_path.source if spec.input_path is not None else None,
        input_transformer=dumps(transformer) if transformer is not None else None,
        retry_policy=dumps(retry_document) if retry_document is not None else None,
        dead_letter_config=dumps(dead_document) if dead_letter is not None else None,
        extra=dumps(extra) if extra else None,
    )
    return Target(
        bus=bus,
        rule=rule,
        id=record.id,
        arn=arn,
        kind=kind,
        name=name,
        input=spec,
        retry=retry,
        dead_letter=dead_letter,
        record=record,
        http=http,
    )


def target_document(record: TargetRecord) -> dict[str, Json]:
    """The target as ListTargetsByRule shows it."""
    document: dict[str, Json] = {"Id": record.id, "Arn": record.arn}
    if record.input is not None:
        document["Input"] = record.input
    if record.input_path is not None:
        document["InputPath"] = record.input_path
    if record.input_transformer is not None:
        document["InputTransformer"] = loads(record.input_transformer)
    if record.retry_policy is not None:
        document["RetryPolicy"] = loads(record.retry_policy)
    if record.dead_letter_config is not None:
        document["DeadLetterConfig"] = loads(record.dead_letter_config)
    if record.extra is not None:
        document.update(loads(record.extra))
    return document


def target_from_record(record: TargetRecord) -> Target:
    """A stored target, validated again (it was valid when stored)."""
    return parse_target(record.bus, record.rule, target_document(record))
