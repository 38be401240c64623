"""The App: an application's state machines, handlers, event buses and rules, wired to a
durable engine worker and a bus dispatcher that share one database and one rule router.

:mod:`.declaring` holds what an app declares (handlers, state machines, buses, rules) and
:mod:`.application` the app that runs them. Registering handlers and loading the code that
registers them lives in :mod:`oncue.engine.registry` (re-exported here, where the CLI and users
import it from); deploying buses and rules in :mod:`oncue.bus.declare`.
"""

from __future__ import annotations

from oncue.app.application import App
from oncue.engine.registry import (
    HandlerRegistry,
    default_registry,
    handler,
    load_definition_file,
    load_handlers,
)

__all__ = [
    "App",
    "HandlerRegistry",
    "default_registry",
    "handler",
    "load_definition_file",
    "load_handlers",
]
