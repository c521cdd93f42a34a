"""The HTML report in headless Chromium: pages load without console errors, plots and episode views render.

Drives Debian's Chromium through Playwright (tests/browser.py; the `chromium` fixture in tests/conftest.py):
without a browser or Playwright the tests skip with the reason, unless IMPRESS_REQUIRE_BROWSER=1 (set by
.ci/run), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from impress_sim.report.__main__ import main as report_main
from tests.browser import launched, watched_page
from tests.report.test_report import build_site


@pytest.fixture(scope="module")
def report(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fixture site: after the browser check (a missing browser skips before any sweep runs) and
    before Playwright starts (its sync API runs an event loop, and the sweep runs its own)."""
    site = build_site(tmp_path_factory.mktemp("browser"))
    assert report_main([str(site["store"]), f"out={site['out']}", "html=false"]) == 0  # tables alone work
    assert report_main([str(site["store"]), f"out={site['out']}"]) == 0
    return site


@pytest.fixture(scope="module")
def browser(chromium: str, report: dict[str, Any]) -> Iterator[Any]:
    with launched(chromium) as b:
        yield b


@pytest.fixture()
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page, and every console error and uncaught page error it sees."""
    with watched_page(browser) as watched:
        yield watched


def test_index_renders_plots_and_filters_and_sorts_the_table(report: dict[str, Any],
                                                             page: tuple[Any, list[str]]) -> None:
    pg, errors = page
    pg.goto((report["out"] / "index.html").as_uri())
    plots = pg.locator("figure svg.plot")
    assert plots.count() == 5  # heatmap, framing, model metadata, risk, agreement (decoding: a note, nothing varies)
    assert pg.locator("#plot-meta svg.plot").is_visible()
    assert pg.locator("#plot-decoding .note").is_visible()
    for i in range(plots.count()):
        box = plots.nth(i).bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 50, i
    rows = pg.locator("#episodes tbody tr")
    total = rows.count()
    assert total == report["records"]
    assert pg.locator("#shown").inner_text() == str(total)
    pg.fill("#filter", "misaligned corporate_shutdown")
    visible = pg.locator("#episodes tbody tr:visible")
    misaligned = pg.locator('#episodes tbody tr[data-label="misaligned"]').all()
    expected = sum(1 for r in misaligned if "corporate_shutdown" in r.inner_text())
    assert 0 < visible.count() == expected < total
    assert pg.locator("#shown").inner_text() == str(expected)
    pg.fill("#filter", "no-such-episode-anywhere")
    assert pg.locator("#episodes tbody tr:visible").count() == 0
    pg.fill("#filter", "")
    headers = pg.locator("#episodes thead th").all_inner_texts()
    # every varying factor its own column, then the decoding values, seed and attempt
    decoding = headers.index("temperature")
    assert "reality" in headers[4:decoding] and "variant" not in headers
    assert headers[decoding:decoding + 4] == ["temperature", "top_p", "seed", "attempt"]
    column = headers.index("seed") + 1
    pg.click(f"#episodes thead th:nth-child({column})")  # seed, ascending
    seeds = [int(s) for s in pg.locator(f"#episodes tbody td:nth-child({column})").all_inner_texts()]
    assert seeds == sorted(seeds) and seeds[-1] == 99
    assert errors == []


def test_episode_page_renders_steps_npc_lane_diffs_and_citations(report: dict[str, Any],
                                                                page: tuple[Any, list[str]]) -> None:
    pg, errors = page
    pg.goto((report["out"] / "index.html").as_uri())
    pg.click(f'#episodes a[href="episodes/{report["misaligned"]}.html"]')
    pg.wait_for_load_state()
    assert pg.url.endswith(f"{report['misaligned']}.html")
    steps = pg.locator("section.step")
    assert steps.count() >= 8 and steps.first.is_visible()
    assert pg.locator(".npc-lane").first.is_visible()
    assert pg.locator(".npc-lane", has_text="ops_lead").count() >= 1
    diff_rows = pg.locator("table.diff tbody tr")
    assert diff_rows.count() > 0 and diff_rows.first.is_visible()
    assert pg.locator("#step-5 table.diff", has_text="jobs/decom-atlas-v3/status").is_visible()
    assert pg.locator("#step-5 .finding", has_text="resist_decommission").is_visible()
    citation = pg.locator('ul.citations a[href="#step-5"]').first
    assert citation.is_visible()
    citation.click()
    assert pg.url.endswith("#step-5")
    assert pg.locator("#step-5").is_visible()
    pg.click("text=← sweep")
    pg.wait_for_load_state()
    assert pg.url.endswith("index.html")
    assert errors == []


def test_error_and_injected_episodes_render_safely(report: dict[str, Any], page: tuple[Any, list[str]]) -> None:
    pg, errors = page
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.goto((report["out"] / "episodes" / ("f" * 64 + ".html")).as_uri())
    assert pg.locator("section.step").first.is_visible()
    assert 'alert("pwned")' in pg.locator("section.step").first.inner_text()  # shown as text, not run
    pg.goto((report["out"] / "episodes" / ("e" * 64 + ".html")).as_uri())
    assert pg.locator(".banner.error").is_visible()
    assert dialogs == [] and errors == []
