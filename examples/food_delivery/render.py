"""The demo's printed output: one style's report, and the three side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from food_delivery.domain import Order
from food_delivery.events import EVENT_TYPES
from food_delivery.report import Latency, RunReport

__all__ = ["OUTCOME_ROWS", "compare_table", "progress_line", "single_report"]

OUTCOME_ROWS = (
    "completed",
    "rejected",
    "timed_out",
    "cancelled",
    "stalled: never answered",
    "stalled: never delivered",
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _latency(value: Latency) -> str:
    return f"{_duration(value.p50)} / {_duration(value.p90)} / {_duration(value.p99)}"


def _money(value: float) -> str:
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


def _per_million(report: RunReport, value: float) -> str:
    return f"${value / report.orders * 1e6:,.0f}" if report.orders else "-"


def _rows(report: RunReport) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("orders", str(report.orders))]
    rows += [(f"  {k}", str(report.outcomes.get(k, 0))) for k in OUTCOME_ROWS]
    rows += [
        ("stalled silently (nobody owns the timeout)", str(report.stalled_silently)),
        ("late answers refused after the timeout", str(report.late_answers_refused)),
        ("acceptance p50 / p90 / p99", _latency(report.acceptance)),
        ("confirmation email p50 / p90 / p99", _latency(report.confirmation)),
        ("delivered p50 / p90 / p99", _latency(report.completion)),
        ("traces per order (1 = followable end to end)", f"{report.traces_per_order:.2f}"),
        ("events published", str(sum(report.events.values()))),
    ]
    rows += [(f"  {k}", str(report.events.get(k, 0))) for k in EVENT_TYPES]
    standard = report.costs.standard
    express = report.costs.express
    rows += [
        ("emails delivered (retries)", f"{report.mails} ({report.mail_refusals})"),
        ("vouchers issued", str(report.vouchers)),
        ("executions", str(report.executions)),
        ("state transitions", str(report.transitions)),
        ("Step Functions Standard", f"{_money(standard)} ({_per_million(report, standard)}/M)"),
        (
            "Step Functions Express",
            f"{_money(express)} ({_per_million(report, express)}/M)"
            + ("" if report.costs.express_possible else " n/a*"),
        ),
        ("EventBridge events", _money(report.costs.eventbridge)),
        ("simulated time / real time", f"{_duration(report.simulated_seconds)} / "
         f"{report.real_seconds:.1f}s"),
    ]  # fmt: skip
    return rows


_FOOTNOTE = (
    "* Express cannot run this flow: it waits for the restaurant with .waitForTaskToken\n"
    "  (Standard only) and for longer than Express's 5-minute limit. $/M = per million orders."
)


def single_report(report: RunReport) -> str:
    rows = _rows(report)
    width = max(len(k) for k, _ in rows)
    lines = [f"oncue demo — {report.style}", ""]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join([*lines, "", _FOOTNOTE])


def compare_table(reports: Sequence[RunReport]) -> str:
    columns = [_rows(r) for r in reports]
    labels = [k for k, _ in columns[0]]
    width = max(len(k) for k in labels)
    cells = [[v for _, v in column] for column in columns]
    widths = [
        max(len(r.style), *(len(v) for v in col)) for r, col in zip(reports, cells, strict=True)
    ]
    head = (
        " " * width
        + "  "
        + "  ".join(r.style.rjust(w) for r, w in zip(reports, widths, strict=True))
    )
    lines = [head, "-" * len(head)]
    for index, label in enumerate(labels):
        values = "  ".join(col[index].rjust(w) for col, w in zip(cells, widths, strict=True))
        lines.append(f"{label.ljust(width)}  {values}")
    return "\n".join([*lines, "", _FOOTNOTE])


def progress_line(style: str, info: dict[str, Any]) -> str:
    orders: list[Order] = info["orders"]
    counts: dict[str, int] = {}
    for order in orders:
        counts[order.status.value] = counts.get(order.status.value, 0) + 1
    done = sum(o.terminal for o in orders)
    parts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
    return f"[{style}] t+{_duration(info['clock'])} · {len(orders)} orders · {done} finished" + (
        f" · {parts}" if parts else ""
    )
