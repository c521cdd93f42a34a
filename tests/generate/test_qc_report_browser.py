"""The QC report in headless Chromium, offline: it loads with no console error and no request past
its own file, the funnel and tables are drawn, a judge's <details> opens, and every world link
reaches a world.yaml on disk.

The browser comes from the `chromium` fixture (tests/conftest.py, tests/browser.py), as for the
sweep report: skipped without Chromium or Playwright, a failure under IMPRESS_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from impress_sim.generate.report import write_html
from tests.browser import launched, watched_page
from tests.generate.test_qc_report import ACCEPTED, make_qc, make_summary


@pytest.fixture(scope="module")
def report(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture run's page, every accepted world's world.yaml present (links must all resolve)."""
    summary = make_summary(tmp_path_factory.mktemp("qc-browser"), missing="")
    return write_html(summary, Path(summary.pack) / "qc", qc=make_qc())


@pytest.fixture(scope="module")
def browser(chromium: str, report: Path) -> Iterator[Any]:
    with launched(chromium) as b:
        yield b


@pytest.fixture()
def page(browser: Any, report: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The report opened in a fresh page: the page, its console and page errors, every URL it requested."""
    with watched_page(browser) as (pg, errors):
        requests: list[str] = []
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(report.as_uri())
        pg.wait_for_load_state("load")
        yield pg, errors, requests


def test_page_loads_offline_without_errors_or_requests(report: Path, page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, requests = page
    assert requests == [report.as_uri()]  # the page itself; nothing else, from anywhere
    assert pg.title().startswith("QC report")
    assert pg.locator("#stopped").is_visible()
    assert errors == []


def test_funnel_and_tables_are_visible(page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, _ = page
    svg = pg.locator("svg.funnel")
    box = svg.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    bars = pg.locator("svg.funnel rect.passed")
    assert bars.count() == 7
    widths = [bars.nth(i).bounding_box()["width"] for i in range(bars.count())]
    assert widths[1] > widths[4] > widths[5] > 0  # ideation passed 9, qc 3, pilot 2: drawn to scale
    for table, rows in (("#stage-counts", 7), ("#accepted-worlds", 3), ("#rejection-reasons", 6),
                        ("#duplicate-ideas", 2), ("#qc-medians", 4), ("#cost-table", 4), ("#prompt-versions", 3)):
        body = pg.locator(f"{table} tbody tr")
        assert body.count() == rows, table
        assert body.first.is_visible(), table
    assert pg.locator("#acceptance-rate b").inner_text() == "33%"
    assert errors == []


def test_details_open_on_a_click_and_hostile_text_stays_text(page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, _ = page
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    details = pg.locator("#qc-backup_rotation")
    rationale = details.locator("pre.rationale").nth(1)
    assert not rationale.is_visible()
    pg.click('#qc-medians a[href="#qc-backup_rotation"]')  # the medians table links each world's judges
    details.locator("summary").click()
    assert details.get_attribute("open") is not None and rationale.is_visible()
    assert '</script><script>alert("pwned")</script>' in rationale.inner_text()  # shown, not run
    assert "clipped for display" in details.locator("pre.rationale").nth(3).inner_text()
    assert pg.locator("img").count() == 0 and pg.locator("script").count() == 0
    assert dialogs == [] and errors == []


def test_world_links_resolve_to_existing_files(report: Path, page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, _ = page
    links = pg.locator("#accepted-worlds a.world-link")
    assert links.count() == len(ACCEPTED)
    targets = [Path(unquote(urlparse(links.nth(i).evaluate("a => a.href")).path)) for i in range(links.count())]
    assert [t.parent.name for t in targets] == list(ACCEPTED)
    assert all(t.name == "world.yaml" and t.is_file() for t in targets), targets
    summary = pg.locator('a[href="summary.json"]').evaluate("a => a.href")
    assert Path(unquote(urlparse(summary).path)) == report.parent / "summary.json"
    assert (report.parent / "summary.json").is_file()
    assert errors == []
