"""How an oncue process (``oncue worker``, ``oncue serve``) ends after its graceful shutdown,
or at once on a second signal."""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

__all__ = ["exit_at_once", "exit_if_threads_busy"]


def exit_at_once(number: int) -> NoReturn:
    """A second SIGINT or SIGTERM during a graceful shutdown: exit now, with 128 + the
    signal's number (as a shell reports it). What the process still holds is left to its
    leases: other processes take it when they run out."""
    sys.stderr.write("oncue: second signal, exiting at once; the leases held run out\n")
    sys.stderr.flush()
    os._exit(128 + number)


def exit_if_threads_busy(executor: ThreadPoolExecutor, wait_seconds: float = 0.25) -> None:
    """After a graceful shutdown (results recorded, leases handed back): shut ``executor``
    (the one plain handlers ran in) down, and exit 0 at once if handlers that outlived the
    grace period still run in threads.

    Such a handler was cancelled as a task, but Python cannot stop the thread that runs it,
    and the interpreter would wait for it at exit; its task is back in the database already.
    """
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + wait_seconds
    current = threading.current_thread()
    others = [t for t in threading.enumerate() if t is not current and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = sum(1 for thread in others if thread.is_alive())
    if busy:
        sys.stderr.write(
            f"oncue: {busy} handler thread(s) still running past the grace period were "
            "abandoned; their tasks were handed back\n"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
