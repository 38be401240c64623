"""A real browser (Debian's chromium through Playwright) drives the pages: a customer orders,
the restaurant screen shows it live, the restaurant accepts and delivers, the customer page
follows, and the mailbox shows the confirmation and the voucher."""

from __future__ import annotations

from pathlib import Path

import pytest
from food_support import CHROMIUM, chromium_available, make_system, require_service, serving

from food_delivery.mailsink import MailSink
from oncue import VirtualClock

pytestmark = pytest.mark.slow


async def test_customer_restaurant_and_mailbox_in_a_browser(
    tmp_path: Path, sink: MailSink, clock: VirtualClock
) -> None:
    require_service(chromium_available(), f"no chromium at {CHROMIUM} (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.async_api")
    async with make_system("hybrid", tmp_path, sink, clock) as system, serving(
        system, sink
    ) as base, playwright_api.async_playwright() as pw:  # fmt: skip
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            expect = playwright_api.expect
            screen = await browser.new_page()
            await screen.goto(f"{base}/restaurant/luigis")
            await expect(screen.locator("#orders")).to_contain_text("No orders yet")

            customer = await browser.new_page()
            await customer.goto(f"{base}/customer")
            await customer.locator("input[data-item=margherita]").fill("2")
            await customer.locator("#email").fill("zoe@customers.example")
            await customer.locator("#place").click()
            await expect(customer.locator("#result")).to_contain_text("Placed o-00001")

            card = screen.locator("#card-o-00001")
            await expect(card).to_contain_text("2 x Margherita")
            await card.get_by_role("button", name="Accept").click()
            row = customer.locator("#row-o-00001 .status")
            await expect(row).to_contain_text("confirmation emailed")

            await card.get_by_role("button", name="Delivered").click()
            await expect(row).to_contain_text("completed")

            mailbox = await browser.new_page()
            await mailbox.goto(f"{base}/mail")
            await expect(mailbox.locator(".mail")).to_have_count(2)
            await expect(mailbox.locator("#mail")).to_contain_text(
                "Your order o-00001 is confirmed"
            )
            await expect(mailbox.locator("#mail")).to_contain_text("THANKS-")
        finally:
            await browser.close()
