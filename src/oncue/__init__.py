"""oncue: durable Amazon States Language workflows and EventBridge-style events for Python.

The public API is what this module exports; everything else is internal and may change.
"""

from oncue.app import HandlerRegistry, handler, load_handlers
from oncue.asl.model import StateMachine
from oncue.asl.validate import parse_definition, validate_definition
from oncue.engine.invoke import TaskContext
from oncue.engine.runner import ExecutionResult, execute, execute_async
from oncue.errors import (
    DefinitionError,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    HandlerError,
    InvalidInput,
    NotFound,
    OncueError,
    PatternError,
    Problem,
    StateMachineNotFound,
    StoreError,
)

__all__ = [
    "DefinitionError",
    "ExecutionAlreadyExists",
    "ExecutionNotFound",
    "ExecutionResult",
    "HandlerError",
    "HandlerRegistry",
    "InvalidInput",
    "NotFound",
    "OncueError",
    "PatternError",
    "Problem",
    "StateMachine",
    "StateMachineNotFound",
    "StoreError",
    "TaskContext",
    "__version__",
    "execute",
    "execute_async",
    "handler",
    "load_handlers",
    "parse_definition",
    "validate_definition",
]

__version__ = "0.1.0"
