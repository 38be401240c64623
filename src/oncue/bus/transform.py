"""What a target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer``.

From the PutTargets ``Target`` shape and *Amazon EventBridge input transformation*:

- no option: the matched event itself;
- ``Input``: "Valid JSON text passed to the target. In this case, nothing from the event itself
  is passed to the target" (at most 8192 characters);
- ``InputPath``: the part of the event a JSONPath selects (at most 256 characters);
- ``InputTransformer``: ``InputPathsMap`` (up to 100 variables, keys ``[A-Za-z0-9_-]+``) and an
  ``InputTemplate`` (1 to 8192 characters) with ``<variable>`` placeholders. A template that is
  a JSON object inserts a variable *outside* quotes as JSON (``"instance": <instance>`` gives
  ``"instance": "i-0123456789"``) and *inside* quotes as text (``"state": "<state>"``); a template
  that is a quoted string (``"<instance> is in <state>"``) stays a JSON string; anything else is
  plain text with the values written in. "The JSON that is passed to the target is minified".
  The reserved variables are ``aws.events.rule-arn``, ``aws.events.rule-name``,
  ``aws.events.event.ingestion-time`` (an ISO 8601 timestamp), ``aws.events.event`` (the event
  without ``detail``) and ``aws.events.event.json`` (the whole event); the last two "can only be
  used as a value for a JSON field". "The placeholder cannot be used as an object key."

Only one of the three options may be set ("Only one of Input, InputPath, or InputTransformer
must be provided"). A variable whose path matches nothing in the event "isn't created": oncue
writes nothing for it inside quotes or in plain text, and ``null`` where a JSON value stands.
Inside quotes, values are escaped as JSON string content so that the result stays valid JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, NoReturn

from oncue.bus.jsonpath import EventPath, compile_event_path
from oncue.errors import ValidationException
from oncue.patterns.entries import format_time
from oncue.types import Json

__all__ = [
    "MAX_INPUT_LENGTH",
    "MAX_INPUT_PATH_LENGTH",
    "MAX_TEMPLATE_LENGTH",
    "MAX_VARIABLES",
    "RESERVED_VARIABLES",
    "InputTransformer",
    "TargetInput",
    "parse_input_transformer",
    "parse_target_input",
    "render_input",
]

#: TargetInput: "max": 8192.
MAX_INPUT_LENGTH: Final = 8192
#: TargetInputPath: "max": 256 (also each InputPathsMap value).
MAX_INPUT_PATH_LENGTH: Final = 256
#: TransformerInput: "min": 1, "max": 8192.
MAX_TEMPLATE_LENGTH: Final = 8192
#: TransformerPaths: "max": 100.
MAX_VARIABLES: Final = 100
_KEY: Final = re.compile(r"[A-Za-z0-9_\-]{1,256}")
#: The predefined variables (*Predefined variables*).
RESERVED_VARIABLES: Final = frozenset(
    {
        "aws.events.rule-arn",
        "aws.events.rule-name",
        "aws.events.event.ingestion-time",
        "aws.events.event",
        "aws.events.event.json",
    }
)
#: Whole-event variables whose "contents are not escaped": JSON values only.
_JSON_ONLY: Final = frozenset({"aws.events.event", "aws.events.event.json"})
#: ``<name>``: a name has no blanks and no angle brackets (variable keys and reserved names
#: never do), so ``a < b`` in a template stays text.
_PLACEHOLDER: Final = re.compile(r"<([^<>\s]+)>")

_Form = Literal["json", "string", "text"]


def _invalid(message: str) -> NoReturn:
    raise ValidationException(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Slot:
    """A placeholder in the template: which variable, and whether it sits inside quotes."""

    name: str
    quoted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTransformer:
    """A validated InputTransformer, its template cut into text and :class:`_Slot` pieces."""

    paths: tuple[tuple[str, EventPath], ...]
    template: str
    form: _Form
    pieces: tuple[str | _Slot, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetInput:
    """The input option of one target; all None means the target receives the event."""

    input: str | None = None
    input_path: EventPath | None = None
    transformer: InputTransformer | None = None


def parse_target_input(target: Mapping[str, Json]) -> TargetInput:
    """Validate the ``Input``, ``InputPath`` and ``InputTransformer`` fields of a target."""
    target_id = target.get("Id", "")
    given = [
        name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None
    ]
    if len(given) > 1:
        _invalid(
            f"Only one of Input, InputPath, or InputTransformer must be provided for target "
            f"{target_id}."
        )
    constant = target.get("Input")
    if constant is not None:
        if not isinstance(constant, str) or len(constant) > MAX_INPUT_LENGTH:
            _invalid(
                f"Input for target {target_id} must be a string of at most "
                f"{MAX_INPUT_LENGTH} characters."
            )
        try:
            json.loads(constant)
        except ValueError:
            _invalid(f"Input for target {target_id} is not valid JSON text.")
        return TargetInput(input=constant)
    path = target.get("InputPath")
    if path is not None:
        return TargetInput(input_path=_path(path, f"InputPath for target {target_id}"))
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return TargetInput(
            transformer=parse_input_transformer(transformer, target_id=str(target_id))
        )
    return TargetInput()


def _path(text: Json, what: str, *, bracket_names: bool = True) -> EventPath:
    if not isinstance(text, str) or len(text) > MAX_INPUT_PATH_LENGTH:
        _invalid(f"{what} must be a JSON path of at most {MAX_INPUT_PATH_LENGTH} characters.")
    compiled = compile_event_path(text, bracket_names=bracket_names)
    if compiled is None:
        _invalid(f"{what} is not a valid JSON path: {text}")
    return compiled


def parse_input_transformer(spec: Json, *, target_id: str = "") -> InputTransformer:
    """Validate an InputTransformer (``InputPathsMap``, ``InputTemplate``) and cut its template."""
    if not isinstance(spec, Mapping):
        _invalid(f"InputTransformer for target {target_id} must be an object.")
    paths_map = spec.get("InputPathsMap") or {}
    if not isinstance(paths_map, Mapping):
        _invalid(f"InputPathsMap for target {target_id} must be an object.")
    if len(paths_map) > MAX_VARIABLES:
        _invalid(
            f"InputPathsMap for target {target_id} has {len(paths_map)} entries; at most "
            f"{MAX_VARIABLES} are allowed."
        )
    paths = []
    for key, value in paths_map.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            _invalid(
                f"InputPathsMap key {key!r} for target {target_id} must match [A-Za-z0-9_-]+ "
                "and be 1 to 256 characters long."
            )
        what = f"InputPathsMap value for {key} (target {target_id})"
        paths.append((key, _path(value, what, bracket_names=False)))
    template = spec.get("InputTemplate")
    if not isinstance(template, str) or not 1 <= len(template) <= MAX_TEMPLATE_LENGTH:
        _invalid(
            f"InputTemplate for target {target_id} must be a string of 1 to "
            f"{MAX_TEMPLATE_LENGTH} characters."
        )
    known = {key for key, _ in paths} | RESERVED_VARIABLES
    form, pieces = _cut(template, target_id)
    for piece in pieces:
        if isinstance(piece, _Slot):
            if piece.name not in known:
                _invalid(
                    f"InputTemplate for target {target_id} contains invalid placeholder "
                    f"{piece.name}."
                )
            if piece.name in _JSON_ONLY and (form != "json" or piece.quoted):
                _invalid(
                    f"InputTemplate for target {target_id}: <{piece.name}> can only be used as "
                    "the value of a JSON field."
                )
    if form == "json":
        _check_json_template(pieces, target_id)
    return InputTransformer(paths=tuple(paths), template=template, form=form, pieces=pieces)


def _cut(template: str, target_id: str) -> tuple[_Form, tuple[str | _Slot, ...]]:
    """Split the template into text and placeholders, noting which placeholders are inside a
    JSON string; reject a placeholder used as an object key."""
    stripped = template.strip()
    if stripped.startswith("{"):
        form: _Form = "json"
    elif len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        form = "string"
    else:
        form = "text"
    pieces: list[str | _Slot] = []
    quoted = escaped = slot_in_string = False
    start = position = 0
    while position < len(template):
        char = template[position]
        if form != "text" and char == '"' and not escaped:
            quoted = not quoted
            if quoted:
                slot_in_string = False
            elif slot_in_string and form == "json" and _key_follows(template, position + 1):
                _key_error(target_id)
        escaped = quoted and char == "\\" and not escaped
        if char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match is not None:
                pieces.append(template[start:position])
                pieces.append(_Slot(name=match[1], quoted=quoted))
                slot_in_string = slot_in_string or quoted
                if not quoted and form == "json" and _key_follows(template, match.end()):
                    _key_error(target_id)
                start = position = match.end()
                continue
        position += 1
    pieces.append(template[start:])
    return form, tuple(piece for piece in pieces if piece != "")


def _key_follows(template: str, position: int) -> bool:
    rest = template[position:].lstrip()
    return rest.startswith(":")


def _key_error(target_id: str) -> NoReturn:
    _invalid(
        f"InputTemplate for target {target_id}: a placeholder cannot be used as an object key."
    )


def _check_json_template(pieces: tuple[str | _Slot, ...], target_id: str) -> None:
    """With every placeholder standing for a value, the template must be a JSON object."""
    sample = "".join(
        piece if isinstance(piece, str) else ("x" if piece.quoted else "null") for piece in pieces
    )
    try:
        document = json.loads(sample)
    except json.JSONDecodeError as error:
        _invalid(
            f"InputTemplate for target {target_id} is not valid JSON: {error.msg} at "
            f"position {error.pos}."
        )
    if not isinstance(document, dict):
        _invalid(f"InputTemplate for target {target_id} is not a JSON object.")


def render_input(
    spec: TargetInput,
    event: Mapping[str, Json],
    *,
    rule_arn: str,
    rule_name: str,
    ingestion_time: datetime,
) -> str | None:
    """The text delivered to the target for ``event``; None when an ``InputPath`` selects
    nothing (there is no input to deliver). JSON results are minified."""
    if spec.input is not None:
        return spec.input
    if spec.input_path is not None:
        found, value = spec.input_path.find(event)
        return _dumps(value) if found else None
    if spec.transformer is None:
        return _dumps(event)
    transformer = spec.transformer
    values: dict[str, tuple[bool, Json]] = {
        name: path.find(event) for name, path in transformer.paths
    }
    values["aws.events.rule-arn"] = (True, rule_arn)
    values["aws.events.rule-name"] = (True, rule_name)
    values["aws.events.event.ingestion-time"] = (True, format_time(ingestion_time))
    values["aws.events.event"] = (True, {k: v for k, v in event.items() if k != "detail"})
    values["aws.events.event.json"] = (True, dict(event))
    out: list[str] = []
    for piece in transformer.pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        found, value = values[piece.name]
        if transformer.form == "text":
            out.append(_text(value) if found else "")
        elif piece.quoted:
            out.append(json.dumps(_text(value))[1:-1] if found else "")
        else:
            out.append(_dumps(value) if found else "null")
    text = "".join(out)
    if transformer.form == "json":
        try:
            return _dumps(json.loads(text))
        except ValueError:
            _invalid(f"The transformed input is not valid JSON: {text}")
    return text


def _text(value: Json) -> str:
    """A value written into text: strings as they are, anything else as its JSON."""
    return value if isinstance(value, str) else _dumps(value)


def _dumps(value: Json) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
