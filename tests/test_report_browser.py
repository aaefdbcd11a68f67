"""The HTML report in a real browser: Debian's chromium-headless-shell driven by Playwright.

Playwright's own browser download cannot be used here; the test points Playwright at the Debian
binary, which .ci/run installs when it is absent. Without it the tests skip and say why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
PORTFOLIO = str(ROOT / "examples" / "portfolio.csv")
ARTIFACTS = ROOT / "tests" / "artifacts"
BROWSER = "chromium-headless-shell"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    executable = shutil.which(BROWSER)
    if executable is None:
        pytest.skip(f"{BROWSER} is not installed: .ci/run installs it (apt-get install {BROWSER}); here it could not")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The example portfolio's HTML report and its JSON document, from the same command line."""
    out = tmp_path_factory.mktemp("report") / "review.html"
    args = ["portfolio", PORTFOLIO, "--rules", str(ROOT / "rules"), "--no-audit", "--quiet"]
    r = CliRunner().invoke(main, [*args, "--output", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    return out, doc


@pytest.fixture
def page(browser, report):
    """The report opened in a fresh page, with every console error and every request recorded."""
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda req: pg.requests.append(req.url))
    pg.goto(report[0].as_uri())
    yield pg
    pg.close()


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_report_loads_without_errors_or_requests(page, report):
    """The report opens with no console error and requests nothing but its own file; a screenshot is kept."""
    page.wait_for_load_state("load")
    assert page.errors == []
    assert page.requests == [report[0].as_uri()]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "portfolio-report.png"), full_page=True)


def test_counts_and_totals_equal_the_json_output(page, report):
    """Accounts, key accounts, new/kept/lost and the key accounts' revenue shown equal the JSON document's."""
    summary, accounts = report[1]["summary"], report[1]["accounts"]
    shown = {
        k: _number(page.text_content(f'[data-count="{k}"]'))
        for k in ("accounts", "key_accounts", *("new", "kept", "lost"))
    }
    assert shown == {
        "accounts": summary["accounts"],
        "key_accounts": summary["key_accounts"],
        **summary["review_counts"],
    }
    revenue = sum(a["revenue"] for a in accounts if a["key_account"])
    assert _number(page.text_content('[data-total="key_revenue"]')) == round(revenue)
    assert page.locator("#key-table > tbody > tr").count() == summary["key_accounts"]


def _revenues(page) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all("#key-table > tbody > tr > td.num[data-value]:nth-child(4)",
                                                       "els => els.map(e => e.dataset.value)")]  # fmt: skip


def test_sorting_by_a_column_orders_the_rows(page):
    """Clicking the revenue title sorts the key accounts ascending, clicking again descending."""
    header = page.locator("#key-table thead th", has_text="Revenue")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _revenues(page) == sorted(_revenues(page))
    header.locator("button").click()
    assert _revenues(page) == sorted(_revenues(page), reverse=True)


def test_reasons_expand_with_threshold_and_observed_value(page):
    """Opening an account's reasons shows each condition with its threshold and the observed value."""
    details = page.locator("#key-table details").first
    conditions = details.locator("table.conditions").first
    assert not conditions.is_visible()
    details.locator("summary").click()
    assert conditions.is_visible()
    headers = conditions.locator("th").all_text_contents()
    assert [h for h in headers if h in ("Threshold", "Observed")] == ["Threshold", "Observed"]
    assert conditions.locator("tbody tr").count() >= 1


def test_filter_keeps_matching_rows(page, report):
    """Typing in the filter hides the key accounts that do not match and says how many are shown."""
    first = report[1]["summary"]["review"]["kept"][0]["account"]
    page.fill('input[data-filter="key-table"]', first)
    assert page.locator("#key-table > tbody > tr:not(.hidden)").count() == 1
    assert page.text_content("#key-table-shown") == "1"


def test_printing_opens_every_reason_and_hides_the_filter(page):
    """Printing (to PDF) opens every account's reasons; in print media the filter box is not shown."""
    closed = page.locator("#key-table details:not([open])").count()
    assert closed > 0
    assert page.pdf()[:4] == b"%PDF"
    assert page.locator("#key-table details:not([open])").count() == 0
    page.emulate_media(media="print")
    assert not page.locator('input[data-filter="key-table"]').is_visible()
