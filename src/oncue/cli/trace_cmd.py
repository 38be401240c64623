"""``oncue trace ID``: the whole causal tree behind one business transaction.

``ID`` is a trace id, an event id or an execution ARN. The tree shows every event of the trace
under what published it, each event's deliveries with their attempts and errors, and the
executions rules (or handlers, or parent executions) started, with their status
(:mod:`oncue.bus.trace` builds it; ``--json`` prints it as it is).
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from oncue.bus.trace import trace_tree
from oncue.cli.common import api_errors, database_option
from oncue.cli.output import emit_json, format_time, shorten
from oncue.store import open_store
from oncue.types import Json

__all__ = ["trace"]

_STYLES = {
    "DELIVERED": "green",
    "SUCCEEDED": "green",
    "RETRYING": "yellow",
    "PENDING": "cyan",
    "RUNNING": "cyan",
    "DEAD_LETTERED": "red",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "yellow",
}


@click.command("trace")
@click.argument("ident", metavar="ID")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON.")
@api_errors
def trace(ident: str, database_url: str, as_json: bool) -> None:
    """Print the causal tree of the trace ID names (a trace id, an event id or an execution
    ARN): events, deliveries with their attempts and errors, executions with their status."""
    store = open_store(database_url)
    try:
        tree = trace_tree(store, ident)
    finally:
        store.close()
    if as_json:
        emit_json(tree)
        return
    title = (
        f"trace {tree['traceId']}: {tree['events']} events, {tree['deliveries']} deliveries, "
        f"{tree['executions']} executions"
    )
    root = Tree(Text(title, style="bold"))
    roots = tree["roots"]
    assert isinstance(roots, list)
    for node in roots:
        assert isinstance(node, dict)
        _add(root, node)
    console = Console(highlight=False)
    if not console.is_terminal:
        # A pipe or a file gets whole lines (whole ARNs and ids for grep), never cropped.
        console = Console(highlight=False, width=10_000)
    console.print(root)


def _status(value: Json) -> Text:
    text = str(value)
    return Text(text, style=_STYLES.get(text, ""))


def _add(parent: Tree, node: dict[str, Json]) -> None:
    kind = node["type"]
    label = Text()
    if kind == "event":
        label.append("event ", style="bold")
        label.append(f"{node['source']} / {node['detailType']}")
        label.append(f"  on {node['bus']}  {node['eventId']}  {format_time(node['time'])}")
    elif kind == "delivery":
        label.append("delivery ", style="bold")
        label.append(f"rule {node['rule']} -> {node['targetArn'] or node['targetId']}  ")
        label.append_text(_status(node["status"]))
    else:
        label.append("execution ", style="bold")
        label.append(f"{node['executionArn']}  ")
        label.append_text(_status(node["status"]))
        if node.get("error"):
            label.append(f"  {node['error']}: {shorten(str(node.get('cause') or ''), 80)}")
    branch = parent.add(label)
    attempts = node.get("attempts")
    if isinstance(attempts, list):
        for attempt in attempts:
            assert isinstance(attempt, dict)
            line = Text(f"attempt {attempt['attempt']}: ")
            line.append_text(_status(_STATUS_OF.get(str(attempt["outcome"]), "")))
            line.append(f"  {format_time(attempt['time'])}")
            if attempt.get("errorCode"):
                message = shorten(str(attempt.get("errorMessage") or ""), 100)
                line.append(f"  {attempt['errorCode']}: {message}", style="red")
            branch.add(line)
    if node.get("nextAttemptAt") is not None:
        branch.add(Text(f"next attempt at {format_time(node['nextAttemptAt'])}", style="cyan"))
    children = node.get("children")
    if isinstance(children, list):
        for child in children:
            assert isinstance(child, dict)
            _add(branch, child)


_STATUS_OF = {"delivered": "DELIVERED", "retry": "FAILED", "dead": "DEAD_LETTERED"}
