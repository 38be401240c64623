"""``oncue demo`` headlessly, as a user runs it: a real process, small N, a fast clock.

The timing of one run depends on the machine, so the assertions are the ones that hold on any
machine: what each style can and cannot do with the same traffic (seed 7 has a restaurant that
never answers, one that delivers nothing, late acceptances and a rejection).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.slow


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oncue.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_compare_runs_the_three_styles_on_the_same_traffic() -> None:
    done = _demo("--compare", "--orders", "8", "--seed", "7", "--speed", "2000", "--json")
    assert done.returncode == 0, done.stderr
    reports = {r["style"]: r for r in json.loads(done.stdout)}
    assert list(reports) == ["choreography", "orchestration", "hybrid"]
    for report in reports.values():
        assert report["orders"] == 8
        assert sum(report["outcomes"].values()) == 8
        assert report["eventsByType"]["order_placed"] == 8
        assert report["eventsByType"]["restaurant_notified"] == 8
        completed = report["outcomes"].get("completed", 0)
        assert report["vouchers"] == completed
        assert report["mails"] == report["eventsByType"].get("user_notified", 0) + completed
        assert report["costUSD"]["stepFunctionsStandard"] == pytest.approx(
            report["stateTransitions"] * 25 / 1e6, abs=1e-6
        )
    chore = reports["choreography"]
    # Nobody owns the timeout: the silent restaurant's order stalls and no event says so.
    assert chore["stalledSilently"] >= 1
    assert chore["outcomes"].get("timed_out", 0) == 0
    assert "order_timed_out" not in chore["eventsByType"]
    assert chore["stateTransitions"] == 0 and chore["executions"] == 0
    # Each API call (accept, complete) starts a causal chain of its own: the order's events
    # fall into several traces. An orchestrated order is one trace from end to end.
    assert chore["tracesPerOrder"] > 1.5
    for style in ("orchestration", "hybrid"):
        report = reports[style]
        assert report["stalledSilently"] == 0
        assert not any(k.startswith("stalled") for k in report["outcomes"])
        assert report["outcomes"]["timed_out"] >= 1
        assert report["eventsByType"]["order_timed_out"] == report["outcomes"]["timed_out"]
        assert report["executions"] == 8 and report["stateTransitions"] > 8 * 5
        assert report["costUSD"]["expressPossible"] is False
        assert report["tracesPerOrder"] == 1.0
    # The hybrid's machine has one step fewer on the completed path (no voucher step).
    orchestrated, hybrid = reports["orchestration"], reports["hybrid"]
    assert hybrid["stateTransitions"] <= orchestrated["stateTransitions"]


def test_one_style_prints_a_readable_report() -> None:
    done = _demo("--exit", "--style", "hybrid", "--orders", "4", "--speed", "4000")
    assert done.returncode == 0, done.stderr
    for text in (
        "oncue demo — hybrid",
        "state transitions",
        "Step Functions Standard",
        "Step Functions Express",
        "stalled silently",
        "acceptance p50 / p90 / p99",
    ):
        assert text in done.stdout  # fmt: skip


def test_bad_arguments_exit_2_with_one_message() -> None:
    done = _demo("--exit", "--speed", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "oncue demo: --speed must be positive, got 0"
    assert "Traceback" not in done.stderr
    assert _demo("--style", "waterfall").returncode == 2
    smtp = _demo("--smtp", "mail.example:25")
    assert smtp.returncode == 2 and "--smtp must look like smtp://host:port" in smtp.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = _demo("--port", port)
    assert busy.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr


def test_the_live_demo_serves_its_pages_and_stops_by_itself() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "oncue.cli", "demo", "--port", str(port), "--speed", "600",
         "--duration", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(8)]
        assert "hybrid style" in banner[0]
        assert "the 10-minute acceptance timeout takes 1 s" in banner[1]
        assert f"http://127.0.0.1:{port}/customer" in banner[2]
        assert banner[-1].startswith("Press Ctrl-C to stop.")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            assert "Order food" in http.get("/customer").text
            orders = http.get("/api/orders").json()
            assert orders and orders[0]["orderId"] == "o-00001"  # the simulator is ordering
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "oncue demo: stopped." in out
