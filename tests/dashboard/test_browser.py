"""The dashboard in a real browser: the new user's path, keyboard use, axe-core, screenshots."""
from __future__ import annotations

import csv
import os
import re
from datetime import UTC, datetime
from decimal import Decimal

import openai
import pytest
import requests

import storage.keys as keys_repo
import storage.loop_events as loop_events_repo
import storage.users as users_repo
from tests.conftest import PASSWORD as ACCOUNT_PASSWORD
from tests.conftest import first_backend_only, unavailable
from tests.dashboard.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    VIEWPORTS,
    LiveServer,
    axe_violations,
    screenshot,
)
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.support import wait_for

PASSWORD = "Fresh start 2026"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        unavailable("chromium", FileNotFoundError(f"{CHROMIUM} is not installed "
                                                  "(apt-get install chromium)"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("playwright", exc)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live(request, make_app):
    first_backend_only(request, "the pages run on every backend in test_pages; a browser on one is enough")
    server = LiveServer(make_app(run_embedded_worker=True, webhook_allow_private=True))
    yield server
    server.stop()


@pytest.fixture
def receiver():
    hooks = WebhookReceiver().start()
    yield hooks
    hooks.stop()


def new_page(browser, live, viewport: str = "desktop"):
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    return context.new_page()


def sign_up(page, email: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard")


def create_key(page, name: str) -> str:
    """Create a key on Settings → API keys; the key as the copy button put it on the clipboard."""
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("API key").input_value()
    return copied


def reload_until(page, shown, what: str) -> None:
    """Reload the page until ``shown()`` holds (work done by a worker appears within seconds)."""

    from playwright.sync_api import Error as PlaywrightError

    def reloaded():
        try:
            page.reload()
        except PlaywrightError as exc:  # seen once under load, between two documents: try again
            if "Not attached to an active page" not in exc.message:
                raise
            return False
        return shown()

    page.wait_for_load_state()
    wait_for(reloaded, what)


def sdk(live, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0)


def test_a_new_user_gets_a_key_uses_it_sees_its_cost_and_revokes_it(browser, live):
    page = new_page(browser, live)
    sign_up(page, "first@example.com")
    key = create_key(page, "laptop")
    assert key.startswith("sk-aqta-")

    answer = sdk(live, key).chat.completions.create(model="mock-1", messages=HELLO)
    aqta = answer.model_extra["aqta"]
    assert answer.choices[0].message.content and aqta["provider"] == "mock"

    cost = Decimal(str(aqta["cost_eur"]))  # a JSON number with the exact digits
    assert cost > 0

    # The new (free) account sees that request's cost on the overview's chart.
    page.get_by_role("link", name="Overview").click()
    bars = page.locator("svg[aria-labelledby='month-cost-chart-title'] rect")

    reload_until(page, lambda: bars.count() == 1,
                 "the request's cost to be aggregated onto the overview's chart")
    assert Decimal(bars.first.locator("title").text_content().rsplit("€", 1)[1]) == cost
    shown = Decimal(page.get_by_test_id("month-cost").inner_text().removeprefix("€"))
    assert shown == cost.quantize(Decimal(1).scaleb(shown.as_tuple().exponent))

    # Usage shows the same for this month, and the request history is the starter tier's.
    page.get_by_role("link", name="Usage").click()
    assert page.get_by_text("1 of 500").first.is_visible()
    assert page.get_by_test_id("total-requests").inner_text() == "1"
    usage_bar = page.locator("svg[aria-labelledby='cost-chart-title'] rect")
    assert Decimal(usage_bar.first.locator("title").text_content().rsplit("€", 1)[1]) == cost
    page.get_by_role("link", name="Request history").click()
    assert page.get_by_text("Analytics needs the starter tier or above").is_visible()
    free_pages = {"overview-free": "/dashboard", "usage-free": "/dashboard/usage",
                  "requests-free": "/dashboard/usage/requests"}
    assert photograph(browser, live, page.context.cookies(), free_pages) == []

    # An operator upgrades the account; the request shows in the history with its cost.
    with live.app.app_context():
        users_repo.set_tier(users_repo.find_by_email("first@example.com").id, "starter")
    page.reload()
    row = page.get_by_role("row").filter(has_text=aqta["request_id"])
    assert Decimal(row.get_by_test_id("cost").inner_text()) == cost

    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="API keys").click()
    page.get_by_role("link", name="Revoke laptop").click()
    page.get_by_role("button", name="Revoke the key").click()
    assert page.get_by_text("is revoked").is_visible()
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk(live, key).chat.completions.create(model="mock-1", messages=HELLO)
    assert refused.value.status_code == 401


def test_signing_in_works_with_the_keyboard_alone(browser, live, make_account):
    account = make_account()
    page = new_page(browser, live)
    page.goto("/login")
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "email":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(account.user.email)
    page.keyboard.press("Tab")
    page.keyboard.type("Correct horse 9 battery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def add_webhook(page, receiver) -> str:
    """Add an endpoint, copy its secret (shown once), send a test and wait for its delivery."""
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Ops alerts")
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    receiver.secrets["ops"] = secret
    page.get_by_role("link", name="I have stored it").click()
    page.get_by_role("button", name="Send a test event").click()

    reload_until(page, lambda: page.get_by_test_id("delivery-status").first.inner_text()
                 .startswith("succeeded"), "the test delivery to succeed")
    assert receiver.of_type("webhook.test") and receiver.verify(
        receiver.received[-1].body, receiver.received[-1].headers) == ["ops"]
    page.get_by_role("button", name=re.compile("^Retry delivery")).first.click()
    assert page.get_by_text("is being sent again").is_visible()
    return page.url


def populate(browser, live, receiver):
    """An account with a key, a request, a budget, a loop and a webhook; its pages by name."""
    page = new_page(browser, live)
    sign_up(page, "tour@example.com")
    key = create_key(page, "agent")
    sdk(live, key).chat.completions.create(model="mock-1", messages=HELLO)
    with live.app.app_context():
        user = users_repo.find_by_email("tour@example.com")
        users_repo.set_tier(user.id, "pro")
        key_id = keys_repo.list_for_user(user.id)[0].id
    page.get_by_role("link", name="Budgets").click()
    page.get_by_label("Monthly budget (EUR)").fill("25")
    page.get_by_label("Hard stop").check()
    page.get_by_role("button", name="Save budget").click()
    assert page.get_by_text("Budget saved.").is_visible()
    webhook_page = add_webhook(page, receiver)
    with live.app.app_context():
        loop_events_repo.record(key_id, user.id, "repeat", 5, 60.0, ["f"] * 5,
                                created_at=datetime.now(UTC))
    endpoint_path = webhook_page.removeprefix(live.url)
    return {"overview": "/dashboard", "keys": "/dashboard/settings/keys",
            "revoke": f"/dashboard/settings/keys/{key_id}/revoke",
            "usage": "/dashboard/usage", "usage-by-model": "/dashboard/usage?group_by=model",
            "requests": "/dashboard/usage/requests", "loops": "/dashboard/loops",
            "budgets": "/dashboard/budgets", "webhooks": "/dashboard/webhooks",
            "webhook": endpoint_path, "webhook-delete": f"{endpoint_path}/delete",
            "receipts-other-tier": "/dashboard/receipts"}, page


def test_every_page_passes_axe_and_is_photographed_at_both_widths(browser, live, receiver):
    pages, signed_in = populate(browser, live, receiver)
    cookies = signed_in.context.cookies()
    violations = []
    for viewport in VIEWPORTS:
        anonymous = new_page(browser, live, viewport)
        for name, path in {"landing": "/", "signup": "/signup", "login": "/login"}.items():
            anonymous.goto(path)
            violations += axe_violations(anonymous, f"{viewport} {name}")
            screenshot(anonymous, viewport, name)
        anonymous.get_by_label("Email").fill("nobody@example.com")
        anonymous.get_by_label("Password").fill("Wrong horse 12")
        anonymous.get_by_role("button", name="Log in").click()
        violations += axe_violations(anonymous, f"{viewport} login-error")
        screenshot(anonymous, viewport, "login-error")
        page = new_page(browser, live, viewport)
        page.context.add_cookies(cookies)
        page.goto("/dashboard/settings/keys")
        page.get_by_label("Name").fill(f"{viewport} key")
        page.get_by_role("button", name="Create key").click()
        violations += axe_violations(page, f"{viewport} key-created")
        screenshot(page, viewport, "key-created")
    violations += photograph(browser, live, cookies, pages)
    assert [str(v) for v in violations] == []
    assert len(list(SCREENSHOTS.glob("*.png"))) >= 2 * (4 + len(pages) + 1)


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(ACCOUNT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def photographed(page, viewport: str, name: str) -> list:
    """The page's serious axe-core violations, after writing its screenshot."""
    assert page.get_by_role("heading", level=1).count() == 1, name
    screenshot(page, viewport, name)
    return axe_violations(page, f"{viewport} {name}")


def photograph(browser, live, cookies: list, pages: dict[str, str]) -> list[str]:
    """Open each page at both widths with the session's cookies; its axe violations."""
    violations = []
    for viewport in VIEWPORTS:
        page = new_page(browser, live, viewport)
        page.context.add_cookies(cookies)
        for name, path in pages.items():
            page.goto(path)
            violations += [str(v) for v in photographed(page, viewport, name)]
    return violations


def until_proven(live, key: str, ids: list[str]) -> None:
    """Until a checkpoint covers the receipts (numbered first, then signed a moment later), so
    that they verify and are exported."""
    def proven(receipt_id: str) -> bool:
        response = requests.get(f"{live.url}/api/health/receipts/{receipt_id}", timeout=10,
                                headers={"Authorization": f"Bearer {key}"})
        return response.status_code == 200 and response.json()["status"] == "sequenced"

    wait_for(lambda: all(proven(receipt_id) for receipt_id in ids), "a checkpoint covering the receipts")


def walk_receipts(browser, live, viewport: str, email: str, ids: list[str]) -> list:
    """List, verify, export and download the receipts at one width; the axe violations seen."""
    page = new_page(browser, live, viewport)
    log_in(page, email)
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Receipts").click()
    statuses = page.get_by_test_id("receipt-status")
    reload_until(page, lambda: statuses.all_inner_texts() == ["sequenced"] * len(ids),
                 "the receipts to be sequenced")
    violations = photographed(page, viewport, "receipts")
    page.get_by_role("link", name=ids[0]).click()
    page.get_by_role("button", name="Verify the receipt").click()
    assert page.get_by_test_id("verification").inner_text() == "Valid: every check passed."
    violations += photographed(page, viewport, "receipt")
    page.get_by_role("link", name="All receipts").click()
    page.get_by_label("Format").select_option("csv")
    page.get_by_role("button", name="Export receipts").click()
    status = page.get_by_test_id("export-status")
    reload_until(page, lambda: status.inner_text() == "succeeded", "the export to finish")
    violations += photographed(page, viewport, "receipt-export")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Download receipts-")).click()
    with open(download.value.path(), encoding="utf-8") as exported:
        assert [row["id"] for row in csv.DictReader(exported)] == ids
    return violations


def test_a_healthcare_account_verifies_and_exports_its_receipts(browser, live, make_account):
    account = make_account(tier="healthcare")
    client = sdk(live, account.key)
    ids = [client.chat.completions.create(model="mock-1", messages=HELLO).model_extra["aqta"]["receipt_id"]
           for _ in range(2)]
    until_proven(live, account.key, ids)
    violations = []
    for viewport in VIEWPORTS:
        violations += walk_receipts(browser, live, viewport, account.user.email, ids)
    assert [str(v) for v in violations] == []
