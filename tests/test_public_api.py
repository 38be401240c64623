"""The public API is exactly what ``oncue.__all__`` names, and every name is importable."""

from __future__ import annotations

import oncue
from oncue import errors

EXPECTED = {
    "App",
    "VirtualClock",
    "ConcurrentModificationException",
    "InvalidEventPatternException",
    "LimitExceededException",
    "ManagedRuleException",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "ValidationException",
    "RequestError",
    "RequestTooLarge",
    "SerializationError",
    "UnknownOperation",
    "InvalidAddress",
    "AuthError",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "InvalidSignature",
    "MissingAuthenticationToken",
    "RequestExpired",
    "IllegalStatusException",
    "ActivityNotFound",
    "Conflict",
    "ExecutionNotRedrivable",
    "InvalidArn",
    "InvalidName",
    "InvalidToken",
    "StateMachineAlreadyExists",
    "TaskDoesNotExist",
    "TaskTimedOut",
    "DefinitionError",
    "DeliveryContext",
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
}


def test_public_names_are_pinned() -> None:
    assert set(oncue.__all__) == EXPECTED
    for name in oncue.__all__:
        assert hasattr(oncue, name), name


def test_every_error_derives_from_the_root_and_knows_its_status_and_exit_code() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if name == "Problem":
            continue
        assert issubclass(cls, errors.OncueError)
        assert cls.http_status in (400, 403, 404, 409, 413, 500)
        assert cls.exit_code in (1, 2)
    assert issubclass(errors.DefinitionError, ValueError)
    # EventBridge's names, in the tree where the existing handlers already catch them.
    assert errors.InvalidEventPatternException is errors.PatternError
    assert issubclass(errors.ResourceNotFoundException, errors.NotFound)
    assert issubclass(errors.ValidationException, errors.InvalidInput)
    for name in (
        "ResourceAlreadyExistsException",
        "ManagedRuleException",
        "ConcurrentModificationException",
        "LimitExceededException",
    ):
        assert issubclass(getattr(errors, name), errors.Conflict)
        assert getattr(errors, name).aws_name == name
        assert getattr(errors, name).http_status == 400
    error = errors.DefinitionError(
        [errors.Problem(pointer="/States/A", message="bad")], source="m.json"
    )
    assert str(error) == "m.json: /States/A: bad"
