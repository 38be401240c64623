"""Fixtures for the food-delivery reference application (helpers in food_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from food_support import STYLES, make_system

from food_delivery.mailsink import MailSink
from food_delivery.system import FoodSystem
from oncue import VirtualClock


@pytest.fixture
def sink() -> Any:
    with MailSink() as server:
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(params=STYLES)
async def system(
    request: pytest.FixtureRequest, tmp_path: Path, sink: MailSink, clock: VirtualClock
) -> AsyncIterator[FoodSystem]:
    async with make_system(request.param, tmp_path, sink, clock) as running:
        yield running
