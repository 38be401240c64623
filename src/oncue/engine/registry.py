"""Registering task handlers, and loading the Python code that registers them.

A handler is a plain function, sync or async, registered under the name a Lambda ARN in a
definition uses (``arn:aws:lambda:...:function:NAME``)::

    import oncue

    @oncue.handler("notify-restaurant")
    def notify_restaurant(order, context):
        ...

``@oncue.handler`` with no name registers the function under its own name. A module that
registers nothing still works with ``--handlers``: its public module-level functions are
taken under their own names.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from oncue.asl.loader import load_definition
from oncue.errors import DefinitionError, HandlerError, Problem
from oncue.types import Json

__all__ = [
    "HandlerRegistry",
    "default_registry",
    "handler",
    "load_definition_file",
    "load_handlers",
]

F = TypeVar("F", bound=Callable[..., Any])


class HandlerRegistry(Mapping[str, Callable[..., Any]]):
    """Names to handler functions."""

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise HandlerError(f"handler '{name}' is not callable")
        self._handlers[name] = function

    @overload
    def handler(self, name_or_function: F) -> F: ...

    @overload
    def handler(self, name_or_function: str | None = None) -> Callable[[F], F]: ...

    def handler(self, name_or_function: str | F | None = None) -> F | Callable[[F], F]:
        """Decorator: ``@registry.handler`` or ``@registry.handler("name")``."""
        if callable(name_or_function):
            self.register(name_or_function.__name__, name_or_function)
            return name_or_function

        def decorate(function: F) -> F:
            self.register(name_or_function or function.__name__, function)
            return function

        return decorate

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


#: The registry ``@oncue.handler`` writes to.
default_registry = HandlerRegistry()
handler = default_registry.handler


def load_handlers(module_or_file: str) -> dict[str, Callable[..., Any]]:
    """Import a module (dotted name) or a ``.py`` file and return the handlers it provides.

    Handlers registered with ``@oncue.handler`` during the import win; a module that
    registers none provides its public functions under their own names.
    """
    before = dict(default_registry)
    module = _import(module_or_file)
    registered = {name: fn for name, fn in default_registry.items() if before.get(name) is not fn}
    if registered:
        return registered
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and value.__module__ == module.__name__
    }


def _import(module_or_file: str) -> Any:
    path = Path(module_or_file)
    try:
        if module_or_file.endswith(".py") or path.is_file():
            if not path.is_file():
                raise HandlerError(f"{module_or_file}: no such handler file")
            name = f"oncue_handlers_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise HandlerError(f"{module_or_file}: cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_or_file)
    except HandlerError:
        raise
    except Exception as exc:  # any import-time failure of user code is reported, not raised
        raise HandlerError(
            f"{module_or_file}: the handler module failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def load_definition_file(path: str | os.PathLike[str]) -> dict[str, Json]:
    """Read and parse a definition file (``.json``, ``.yaml`` or ``.yml`` alike)."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"cannot read the definition file {name}: {reason}"
        raise DefinitionError([Problem(pointer="", message=message)], source=name) from None
    return load_definition(data, source=name)
