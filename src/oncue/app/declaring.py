"""What an application declares before it runs: task handlers, state machines, event buses
and rules (:class:`Declaring`, mixed into :class:`~oncue.app.application.App`).

Declaring only records; the app creates or updates everything when it opens (``App.deploy``).
Handlers live in a :class:`~oncue.engine.registry.HandlerRegistry`; buses and rules in
:class:`~oncue.bus.declare.Declarations`, which deploys them through the EventBridge API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from oncue.asl.loader import load_definition
from oncue.asl.validate import parse_definition
from oncue.bus.declare import Declarations
from oncue.bus.naming import DEFAULT_BUS, bus_arn, rule_arn
from oncue.engine.naming import arn_prefix
from oncue.engine.registry import HandlerRegistry, load_definition_file
from oncue.types import Json

__all__ = ["Declaring"]

F = TypeVar("F", bound=Callable[..., Any])


class Declaring:
    """Registering handlers and state machines, declaring event buses and rules, and the ARNs
    they answer to; the state it fills is set up by ``App.__init__``."""

    region: str
    account: str
    handlers: HandlerRegistry
    _machines: dict[str, str | dict[str, Json]]
    _declared: Declarations

    @property
    def state_machine_names(self) -> list[str]:
        """The names of the registered state machines."""
        return list(self._machines)

    # --- registration ------------------------------------------------------------------

    def handler(self, name_or_function: Any = None) -> Any:
        """Register a task handler: ``@app.handler`` or ``@app.handler("name")``."""
        return self.handlers.handler(name_or_function)

    def add_handlers(self, handlers: Mapping[str, Callable[..., Any]]) -> None:
        for name, function in handlers.items():
            self.handlers.register(name, function)

    def state_machine(
        self, name: str, definition: str | os.PathLike[str] | Mapping[str, Json]
    ) -> str:
        """Register a state machine (a file path, JSON/YAML text or a dict); its ARN.

        It is created, or updated when its definition changed, when the app opens.
        """
        if isinstance(definition, Mapping):
            document: str | dict[str, Json] = dict(definition)
        elif isinstance(definition, os.PathLike) or (
            isinstance(definition, str)
            and not definition.lstrip().startswith(("{", "["))
            and Path(definition).suffix in (".json", ".yaml", ".yml")
        ):
            document = load_definition_file(definition)
        else:
            document = load_definition(definition)
        parse_definition(document)  # fail at registration, with JSON pointers
        self._machines[name] = document
        return self.arn(name)

    def arn(self, name: str) -> str:
        """The ARN of a state machine by name (an ARN passes through)."""
        if name.startswith("arn:"):
            return name
        return f"{arn_prefix(self.region, self.account)}:stateMachine:{name}"

    # --- event buses and rules --------------------------------------------------------

    def event_bus(self, name: str, description: str | None = None) -> str:
        """Declare a custom event bus (the ``default`` bus always exists); its ARN. It is
        created, if missing, when the app opens."""
        self._declared.event_bus(name, description)
        return self.bus_arn(name)

    def rule(
        self,
        name: str,
        *,
        event_pattern: Mapping[str, Json] | str | None = None,
        schedule: str | None = None,
        bus: str = DEFAULT_BUS,
        targets: Sequence[Mapping[str, Json]] = (),
        description: str | None = None,
        state: str = "ENABLED",
    ) -> str:
        """Declare a rule with its targets (PutRule and PutTargets shapes); its ARN. It is
        created, or updated to match, when the app opens (:mod:`oncue.bus.declare`)."""
        declared = self._declared.rule(
            name,
            event_pattern=event_pattern,
            schedule=schedule,
            bus=bus,
            targets=targets,
            description=description,
            state=state,
        )
        return rule_arn(self.region, self.account, declared.bus, declared.name)

    def on(
        self,
        event_pattern: Mapping[str, Json] | str,
        *,
        bus: str = DEFAULT_BUS,
        name: str | None = None,
        retry_policy: Mapping[str, Json] | None = None,
        dead_letter_queue: str | None = None,
    ) -> Callable[[F], F]:
        """Decorator: register the function as a handler and declare a rule (named like the
        handler) that delivers the matching events of ``bus`` to it. ``dead_letter_queue`` is
        an internal queue's name or ARN."""

        def decorate(function: F) -> F:
            handler_name = name or function.__name__
            target: dict[str, Json] = {
                "Id": handler_name[:64],
                "Arn": self.handler_arn(handler_name),
            }
            if retry_policy is not None:
                target["RetryPolicy"] = dict(retry_policy)
            if dead_letter_queue is not None:
                queue = dead_letter_queue
                if not queue.startswith("arn:"):
                    queue = f"arn:aws:sqs:{self.region}:{self.account}:{queue}"
                target["DeadLetterConfig"] = {"Arn": queue}
            self.rule(handler_name, event_pattern=event_pattern, bus=bus, targets=[target])
            self.handlers.register(handler_name, function)
            return function

        return decorate

    def handler_arn(self, name: str) -> str:
        """The Lambda ARN a definition or a rule target uses for the handler ``name``."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def bus_arn(self, name: str = DEFAULT_BUS) -> str:
        return bus_arn(self.region, self.account, name)
