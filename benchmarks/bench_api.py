"""The HTTP API (``oncue serve``) on the embedded backend: requests per second and latency.

Run: ``.venv/bin/python benchmarks/bench_api.py`` (``--requests``, ``--clients`` to resize).

The server is ``oncue serve`` in its own process (uvicorn on 127.0.0.1, a worker in the same
process) over a SQLite file with ``synchronous=FULL``. Clients are threads of this process
with keep-alive HTTP connections sending AWS JSON-protocol requests (what boto3 sends,
without the SigV4 signing cost); boto3 itself is measured once for comparison.

1. StartExecution of a one-Task machine (a Python handler): calls per second, and the time
   until every execution SUCCEEDED.
2. DescribeExecution: calls per second (reads).
3. PutEvents with one entry (no matching rule): calls per second.
4. boto3 DescribeExecution from one thread: calls per second (the client's own cost shows).
5. DescribeExecution latency from one client while the others start executions as fast as
   they can (reads beside a busy writer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

__all__ = ["main"]

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
MACHINE = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN + "echo", "End": True}}}


_SCRIPT = Path(sys.executable).with_name("oncue")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "oncue.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("oncue serve did not become ready")


class Client:
    """One keep-alive connection speaking the AWS JSON protocol."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        version = "1.0" if target.startswith("AWSStepFunctions") else "1.1"
        self.connection.request(
            "POST",
            "/",
            body=json.dumps(body),
            headers={"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"},
        )
        response = self.connection.getresponse()
        document: dict[str, Any] = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{target}: {response.status} {document}")
        return document


def run_clients(
    port: int, clients: int, total: int, work: Callable[[Client, int], None]
) -> tuple[float, list[float]]:
    """``total`` calls of ``work`` spread over ``clients`` threads: seconds, latencies."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        client = Client(port)
        mine: list[float] = []
        for n in range(offset, total, clients):
            began = time.perf_counter()
            work(client, n)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies


def report(label: str, count: int, seconds: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{label}: {count / seconds:,.0f} calls/s ({count} in {seconds:.2f} s); "
        f"latency median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "handlers.py").write_text("def echo(event):\n    return event\n")
        (root / "bench.json").write_text(json.dumps(MACHINE))
        port = free_port()
        server = subprocess.Popen(
            [
                *COMMAND,
                *("serve", "--port", str(port), "--log-level", "warning"),
                *("--handlers", "handlers.py", "--state-machine", "bench=bench.json"),
                *("--database-url", f"sqlite:///{root / 'bench.db'}"),
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
        )
        wait_ready(port)
        machine = "arn:aws:states:us-east-1:123456789012:stateMachine:bench"
        arns: list[str] = [""] * args.requests

        def start(client: Client, n: int) -> None:
            body = {"stateMachineArn": machine, "input": json.dumps({"n": n})}
            arns[n] = client.call("AWSStepFunctions.StartExecution", body)["executionArn"]

        seconds, latencies = run_clients(port, args.clients, args.requests, start)
        report(f"StartExecution, {args.clients} clients", args.requests, seconds, latencies)
        probe, began = Client(port), time.perf_counter()
        while True:
            last = probe.call("AWSStepFunctions.DescribeExecution", {"executionArn": arns[-1]})
            listed = probe.call(
                "AWSStepFunctions.ListExecutions",
                {"stateMachineArn": machine, "statusFilter": "RUNNING", "maxResults": 1},
            )
            if last["status"] != "RUNNING" and not listed["executions"]:
                break
            time.sleep(0.01)
        print(
            f"  every execution SUCCEEDED {time.perf_counter() - began:.2f} s after the last start"
        )

        def describe(client: Client, n: int) -> None:
            client.call("AWSStepFunctions.DescribeExecution", {"executionArn": arns[n]})

        seconds, latencies = run_clients(port, args.clients, args.requests, describe)
        report(f"DescribeExecution, {args.clients} clients", args.requests, seconds, latencies)

        def put(client: Client, n: int) -> None:
            entry = {"Source": "bench", "DetailType": "tick", "Detail": json.dumps({"n": n})}
            client.call("AWSEvents.PutEvents", {"Entries": [entry]})

        seconds, latencies = run_clients(port, args.clients, args.requests, put)
        report(f"PutEvents (1 entry), {args.clients} clients", args.requests, seconds, latencies)

        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        count = min(500, args.requests)
        boto_latencies = []
        began = time.perf_counter()
        for n in range(count):
            t0 = time.perf_counter()
            sfn.describe_execution(executionArn=arns[n])
            boto_latencies.append(time.perf_counter() - t0)
        report(
            "boto3 DescribeExecution, 1 thread", count, time.perf_counter() - began, boto_latencies
        )
        stop = threading.Event()

        def load() -> None:
            client = Client(port)
            while not stop.is_set():
                client.call("AWSStepFunctions.StartExecution", {"stateMachineArn": machine})

        loaders = [threading.Thread(target=load) for _ in range(max(1, args.clients - 2))]
        for loader in loaders:
            loader.start()
        probe, under_load, began = Client(port), [], time.perf_counter()
        for n in range(300):
            t0 = time.perf_counter()
            probe.call("AWSStepFunctions.DescribeExecution", {"executionArn": arns[n]})
            under_load.append(time.perf_counter() - t0)
        stop.set()
        for loader in loaders:
            loader.join()
        seconds = time.perf_counter() - began
        report(f"DescribeExecution while {len(loaders)} clients start", 300, seconds, under_load)
        server.send_signal(signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()
