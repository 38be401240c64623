"""oncue: durable Amazon States Language workflows and EventBridge-style events for Python.

The public API is what this module exports; everything else is internal and may change.
"""

from oncue.app import App, HandlerRegistry, handler, load_handlers
from oncue.asl.model import StateMachine
from oncue.asl.validate import parse_definition, validate_definition
from oncue.bus.handlers import DeliveryContext
from oncue.clock import VirtualClock
from oncue.engine.invoke import TaskContext
from oncue.engine.runner import ExecutionResult, execute, execute_async
from oncue.errors import (
    ActivityNotFound,
    ConcurrentModificationException,
    Conflict,
    DefinitionError,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotRedrivable,
    HandlerError,
    IllegalStatusException,
    InvalidArn,
    InvalidEventPatternException,
    InvalidInput,
    InvalidName,
    InvalidToken,
    LimitExceededException,
    ManagedRuleException,
    NotFound,
    OncueError,
    PatternError,
    Problem,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    StateMachineAlreadyExists,
    StateMachineNotFound,
    StoreError,
    TaskDoesNotExist,
    TaskTimedOut,
    ValidationException,
)

__all__ = [
    "ActivityNotFound",
    "App",
    "ConcurrentModificationException",
    "Conflict",
    "DefinitionError",
    "DeliveryContext",
    "ExecutionAlreadyExists",
    "ExecutionNotFound",
    "ExecutionNotRedrivable",
    "ExecutionResult",
    "HandlerError",
    "HandlerRegistry",
    "IllegalStatusException",
    "InvalidArn",
    "InvalidEventPatternException",
    "InvalidInput",
    "InvalidName",
    "InvalidToken",
    "LimitExceededException",
    "ManagedRuleException",
    "NotFound",
    "OncueError",
    "PatternError",
    "Problem",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "StateMachine",
    "StateMachineAlreadyExists",
    "StateMachineNotFound",
    "StoreError",
    "TaskContext",
    "TaskDoesNotExist",
    "TaskTimedOut",
    "ValidationException",
    "VirtualClock",
    "__version__",
    "execute",
    "execute_async",
    "handler",
    "load_handlers",
    "parse_definition",
    "validate_definition",
]

__version__ = "0.1.0"
