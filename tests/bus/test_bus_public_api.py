"""The public names of ``oncue.bus`` are pinned, importable, and the package stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import oncue.bus

EXPECTED = {
    "DEFAULT_MAXIMUM_EVENT_AGE_SECONDS",
    "DEFAULT_MAXIMUM_RETRY_ATTEMPTS",
    "EXHAUSTED_EVENT_AGE",
    "EXHAUSTED_RETRY_ATTEMPTS",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "RESERVED_VARIABLES",
    "At",
    "Cron",
    "DaySpec",
    "DeadLetterConfig",
    "Entry",
    "EntryError",
    "EntryResult",
    "EventPath",
    "InputTransformer",
    "Rate",
    "RetryPolicy",
    "Schedule",
    "TargetInput",
    "build_envelope",
    "compile_event_path",
    "dead_letter_attributes",
    "entry_size",
    "format_time",
    "next_fire",
    "parse_input_transformer",
    "parse_schedule",
    "parse_target_input",
    "parse_time",
    "put_events_response",
    "render_input",
    "validate_entries",
    "validate_entry",
}

#: The pure building blocks (the package also holds the bus driver, which does I/O).
PURE_MODULES = (
    "cron",
    "../patterns/entries",  # PutEvents validation, shared with the engine from the pure layer
    "http_params",
    "jsonpath",
    "retry",
    "schedule",
    "transform",
)
#: A pure core reads no clock, draws no random number and does no I/O of its own.
FORBIDDEN_MODULES = {"random", "time", "uuid", "os", "socket", "asyncio", "threading", "secrets"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open"}


def test_public_names_are_pinned() -> None:
    assert set(oncue.bus.__all__) == EXPECTED
    for name in oncue.bus.__all__:
        assert hasattr(oncue.bus, name), name


def test_the_building_blocks_declare_all_and_stay_pure() -> None:
    package = Path(oncue.bus.__file__).parent
    for path in (package / f"{name}.py" for name in PURE_MODULES):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "__all__" in names, path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported = {(node.module or "").split(".")[0]}
            else:
                imported = set()
            assert not imported & FORBIDDEN_MODULES, (path.name, imported)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                assert called not in FORBIDDEN_CALLS, (path.name, called)
