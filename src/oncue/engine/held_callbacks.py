"""SendTask* calls a worker's handler makes through its context, held until its own result.

A ``.waitForTaskToken`` handler may complete its own token before it returns. Recorded at
once, that callback would close the task before the handler's TaskSubmitted; so it is held and
recorded after the handler's result, in the same transaction (and dropped if that result is
refused because the lease was lost), as AWS orders them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from oncue.asl.commands import Event, TaskFailed, TaskHeartbeat, TaskSucceeded
from oncue.types import Json

__all__ = ["HeldCallback", "HeldCallbacks"]

#: (the task whose result it follows, the token, the event for the token's task, closes it)
HeldCallback = tuple[tuple[str, str], str, Callable[[str], Event], bool]


class Send(Protocol):
    def __call__(self, token: str, event_for: Callable[[str], Event], *, closes: bool) -> None: ...


class HeldCallbacks:
    """SendTask* calls a handler makes through its context.

    A call for the handler's own token is held until the handler returns and is recorded
    after its result, so history reads TaskSubmitted before TaskSucceeded, as on AWS. Calls
    for other tokens go to the store at once.
    """

    def __init__(self, send: Send, token: str | None) -> None:
        #: Records a callback at once (``Control.callback``).
        self.send = send
        self.token = token
        self.held: list[tuple[str, Callable[[str], Event], bool]] = []

    def release(self, task: tuple[str, str]) -> list[HeldCallback]:
        """The held callbacks, tied to the task whose result they must follow."""
        held, self.held = self.held, []
        self.token = None
        return [(task, token, event_for, closes) for token, event_for, closes in held]

    def _send(self, token: str, event_for: Callable[[str], Event], closes: bool) -> None:
        if token == self.token:
            self.held.append((token, event_for, closes))
            return
        self.send(token, event_for, closes=closes)

    def send_task_success(self, token: str, output: Json) -> None:
        self._send(token, lambda task: TaskSucceeded(task_id=task, output=output), True)

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> None:
        self._send(token, lambda task: TaskFailed(task_id=task, error=error, cause=cause), True)

    def send_task_heartbeat(self, token: str) -> None:
        self._send(token, lambda task: TaskHeartbeat(task_id=task), False)
