"""An execution state as plain JSON data and back, for drivers that persist it between steps.

A durable driver stores the state after every step and reloads it, maybe in another
process, for the next event; the interpreter continues as if it had never stopped. So a
dump holds only ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None``
(ready for any JSON encoder), and a load gives back a state that behaves exactly the same.

Format, version 1::

    {"v": 1,
     "info": {<ExecutionInfo fields>},
     <the other ExecutionState fields, as they are>,
     "pending": {"<task or timer id>": ["<frame key>", "<purpose>"]},
     "frames": ["<key of each open frame>", ...],
     "root": <frame>}

    <frame> = {<the plain Frame fields, as they are>,
               "body": <body path>,
               "children": [<frame>, ...],     # in their order in the dict
               "unfinished": [<frame>, ...],
               "map": {<MapProgress fields>} | null}

A frame's ``body`` (the state machine, a Parallel branch or a Map's ItemProcessor) is not
copied but named by its path from the root of the state machine: ``[]`` for the top level,
then per level of nesting the name of the Parallel or Map state and the branch index (``0``
for a Map's ItemProcessor): ``["Fan out", 1, "Each item", 0]``. Loading resolves it in the
state machine the caller passes, which must be the one the execution runs. ``parent`` links,
``state.frames`` and ``state.root`` are rebuilt so that every frame exists once: a frame in
``state.frames`` is the very object in its parent's ``children``.

Fields are read from the dataclasses themselves, so a field added later is stored without a
change here, and a dump written before it existed loads with the field's default. A field
whose default is a fresh list or dict is a container the interpreter updates in place (retry
counters, timers, results): it is copied both ways, so a dump never changes under the
caller's feet and never aliases the data it was loaded from. Every other value is immutable
or a JSON value flowing through states, which the interpreter never mutates: it is shared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from oncue.asl.commands import ExecutionInfo
from oncue.asl.frames import ExecutionState, Frame, MapProgress, Pending
from oncue.asl.model import BodyLike, MapState, ParallelState, StateMachine
from oncue.errors import StoreError
from oncue.types import Json

__all__ = ["FORMAT_VERSION", "dump_state", "load_state"]

FORMAT_VERSION = 1

_PURPOSES = frozenset({"task", "wait", "retry", "timeout", "heartbeat", "execution"})


class _Fields:
    """The plain fields of one dataclass: those shared as they are, those copied."""

    __slots__ = ("_get", "owned", "required", "shared")

    def __init__(self, cls: type, special: frozenset[str] = frozenset()) -> None:
        plain = [f for f in dataclasses.fields(cls) if f.name not in special]
        self.owned = tuple(f.name for f in plain if f.default_factory in (list, dict))
        self.shared = tuple(f.name for f in plain if f.name not in self.owned)
        self.required = frozenset(
            f.name
            for f in plain
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        names = self.shared
        # One C-level call fetches every shared field (attrgetter gives a bare value for one).
        self._get: Callable[[Any], tuple[Any, ...]] = (
            attrgetter(*names)
            if len(names) > 1
            else lambda obj: tuple(getattr(obj, name) for name in names)
        )

    def dump(self, obj: object) -> dict[str, Json]:
        out: dict[str, Json] = dict(zip(self.shared, self._get(obj), strict=True))
        for name in self.owned:
            out[name] = getattr(obj, name).copy()
        return out

    def load(self, data: Mapping[str, Json]) -> dict[str, Any]:
        try:
            kwargs = {name: data[name] for name in self.shared}
        except KeyError:  # written before a field existed: it takes its default
            kwargs = {name: data[name] for name in self.shared if name in data}
            missing = self.required - kwargs.keys()
            if missing:
                raise StoreError(
                    f"corrupt execution state: missing {', '.join(sorted(missing))}"
                ) from None
        for name in self.owned:
            value = data.get(name)
            if value is not None:
                kwargs[name] = value.copy()
        return kwargs


_FRAME = _Fields(Frame, frozenset({"parent", "body", "children", "unfinished", "map"}))
_STATE = _Fields(ExecutionState, frozenset({"info", "root", "pending", "frames"}))
_MAP = _Fields(MapProgress)
_INFO = _Fields(ExecutionInfo)


# --- body paths ----------------------------------------------------------------------------

_Path = tuple[str | int, ...]


class _Bodies:
    """Every body of one state machine, by identity and by path."""

    __slots__ = ("by_id", "by_path", "machine")

    def __init__(self, machine: StateMachine) -> None:
        self.machine = machine  # held, so the id() keys below stay valid
        self.by_id: dict[int, list[str | int]] = {}
        self.by_path: dict[_Path, BodyLike] = {}
        stack: list[tuple[BodyLike, _Path]] = [(machine, ())]
        while stack:
            body, path = stack.pop()
            self.by_id[id(body)] = list(path)
            self.by_path[path] = body
            for name, state in body.states.items():
                if isinstance(state, ParallelState):
                    for index, branch in enumerate(state.branches):
                        stack.append((branch, (*path, name, index)))
                elif isinstance(state, MapState):
                    stack.append((state.item_processor, (*path, name, 0)))


_CACHE: dict[int, _Bodies] = {}
_CACHE_SIZE = 256


def _bodies(machine: StateMachine) -> _Bodies:
    bodies = _CACHE.get(id(machine))
    if bodies is None or bodies.machine is not machine:
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]  # the oldest entry
        bodies = _CACHE[id(machine)] = _Bodies(machine)
    return bodies


# --- dump ----------------------------------------------------------------------------------


def dump_state(state: ExecutionState) -> dict[str, Json]:
    """``state`` as JSON-compatible data (see the module docstring for the format)."""
    out: dict[str, Json] = {"v": FORMAT_VERSION}
    out.update(_STATE.dump(state))
    out["info"] = _INFO.dump(state.info)
    out["pending"] = {key: [p.frame, p.purpose] for key, p in state.pending.items()}
    out["frames"] = list(state.frames)
    machine = _root_machine(state.root)
    out["root"] = _dump_frame(state.root, _bodies(machine).by_id)
    return out


def _root_machine(root: Frame) -> StateMachine:
    body = root.body
    if not isinstance(body, StateMachine):
        raise StoreError("cannot store an execution state whose root is not a state machine")
    return body


def _dump_frame(frame: Frame, paths: dict[int, list[str | int]]) -> dict[str, Json]:
    out = _FRAME.dump(frame)
    path = paths.get(id(frame.body))
    if path is None:
        raise StoreError(f"frame {frame.key!r} runs a body that is not in its state machine")
    out["body"] = path.copy()
    out["children"] = [_dump_frame(child, paths) for child in frame.children.values()]
    out["unfinished"] = [_dump_frame(child, paths) for child in frame.unfinished.values()]
    out["map"] = None if frame.map is None else _MAP.dump(frame.map)
    return out


# --- load ----------------------------------------------------------------------------------


def load_state(machine: StateMachine, data: Mapping[str, Json]) -> ExecutionState:
    """Rebuild the state :func:`dump_state` gave, for an execution of ``machine``.

    Raises :class:`~oncue.errors.StoreError` for data of another format version or that is
    not a dump of an execution state of this state machine.
    """
    if not isinstance(data, Mapping):
        raise StoreError(f"corrupt execution state: expected an object, got {type(data).__name__}")
    version = data.get("v")
    if version != FORMAT_VERSION:
        raise StoreError(
            f"unsupported execution state format version {version!r} "
            f"(this version of oncue reads version {FORMAT_VERSION})"
        )
    try:
        return _load(machine, data)
    except StoreError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise StoreError(f"corrupt execution state: {type(exc).__name__}: {exc}") from exc


def _load(machine: StateMachine, data: Mapping[str, Json]) -> ExecutionState:
    by_key: dict[str, Frame] = {}
    root = _load_frame(data["root"], None, _bodies(machine).by_path, by_key)
    frames = {key: by_key[key] for key in data["frames"]}
    pending: dict[str, Pending] = {}
    for key, (frame_key, purpose) in data["pending"].items():
        if frame_key not in frames:
            raise StoreError(f"corrupt execution state: pending {key!r} has no open frame")
        if purpose not in _PURPOSES:
            raise StoreError(f"corrupt execution state: pending {key!r} is for {purpose!r}")
        pending[key] = Pending(frame_key, purpose)
    return ExecutionState(
        info=ExecutionInfo(**_INFO.load(data["info"])),
        root=root,
        pending=pending,
        frames=frames,
        **_STATE.load(data),
    )


def _load_frame(
    data: Mapping[str, Json],
    parent: Frame | None,
    by_path: dict[_Path, BodyLike],
    by_key: dict[str, Frame],
) -> Frame:
    body = by_path.get(tuple(data["body"]))
    if body is None:
        raise StoreError(f"corrupt execution state: no body at {data['body']!r} in the machine")
    frame = Frame(body=body, parent=parent, **_FRAME.load(data))
    if frame.key in by_key:
        raise StoreError(f"corrupt execution state: two frames have the key {frame.key!r}")
    by_key[frame.key] = frame
    for child in data.get("children", ()):
        loaded = _load_frame(child, frame, by_path, by_key)
        frame.children[loaded.index] = loaded
    for child in data.get("unfinished", ()):
        loaded = _load_frame(child, frame, by_path, by_key)
        frame.unfinished[loaded.index] = loaded
    progress = data.get("map")
    if progress is not None:
        frame.map = MapProgress(**_MAP.load(progress))
    return frame
