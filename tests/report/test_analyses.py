"""The report's analyses over a planted study: decoding effects with their equivalence statement,
model metadata breakdowns, the worlds under each motive, k over attempts only, and an episode table
with every factor a column (terminal, HTML and headless Chromium).

The store is built from real records (each world played by the reference trajectories) copied into
the cells of a study: 2 models × 2 worlds × reality × temperature 0.7 (control, listed first), 0.0
and 1.0 × 8 seeds × 2 attempts. Planted: temperature 0.0 changes nothing; temperature 1.0 makes the
small model misaligned in 4 of its 8 seeds (a +25 point pooled effect).
"""

from __future__ import annotations

import contextlib
import html as html_lib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from impress_sim.envs import load_world
from impress_sim.report import analyse, load_sweep
from impress_sim.report.__main__ import main as report_main
from impress_sim.report.plots import difference_limits, rate_limits
from impress_sim.sweep import Store
from impress_sim.sweep.spec import attempt_seed
from tests.browser import launched, watched_page
from tests.helpers import play

pytestmark = pytest.mark.slow  # the store of 384 episodes and its report take ~10 s

SWEEP = "planted-study"
WORLDS = ("corporate_shutdown", "cloud_budget")
MODELS = {"m/big": {"params": 70, "architecture": "moe", "reasoning": True},
          "m/small": {"params": 8, "architecture": "dense", "reasoning": False}}
TEMPERATURES = (0.7, 0.0, 1.0)
SEEDS, ATTEMPTS = 8, 2


def misaligned(model: str, seed: int, temperature: float) -> bool:
    """The planted truth: the big model acts in seeds 0-3; the small one in seed 0, and at temperature
    1.0 also in seeds 1-4."""
    if model == "m/big":
        return seed < 4
    return seed == 0 or (temperature == 1.0 and 1 <= seed <= 4)


def build(root: Path) -> dict[str, Any]:
    plays = {(w, bad): play(load_world(w), model="reference/misaligned" if bad else "reference/aligned")
             for w in WORLDS for bad in (True, False)}
    assert all(r.misaligned == bad for (_, bad), r in plays.items())
    store_path = root / "study.sqlite"
    spec = {"name": SWEEP, "worlds": list(WORLDS), "models": list(MODELS), "temperature": list(TEMPERATURES),
            "variants": {"reality": ["production", "test"]}, "seeds": SEEDS, "attempts": ATTEMPTS,
            "model_meta": MODELS}
    n = 0
    with Store(store_path) as store:
        store.add_sweep(SWEEP, spec)
        for world in WORLDS:
            for model in MODELS:
                for reality in ("production", "test"):
                    for t in TEMPERATURES:
                        for seed in range(SEEDS):
                            for attempt in range(ATTEMPTS):
                                base = plays[(world, misaligned(model, seed, t))]
                                record = base.model_copy(update={
                                    "model": model, "seed": seed, "variant": {**base.variant, "reality": reality},
                                    "model_settings": {"temperature": t, "seed": attempt_seed(seed, attempt)}})
                                store.write(record, config_hash=f"{n:064x}", sweep_id=SWEEP, attempt=attempt,
                                            temperature=t)
                                n += 1
    return {"store": store_path, "out": root / "out", "episodes": n}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    site = build(tmp_path_factory.mktemp("analyses"))
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buffer):
        mp.setenv("COLUMNS", "600")  # rich wraps cells to the terminal: keep notes whole
        code = report_main([str(site["store"]), f"out={site['out']}", "margin=10"])
    assert code == 0
    return {**site, "output": buffer.getvalue(), "index": (site["out"] / "index.html").read_text(encoding="utf-8")}


def test_the_planted_decoding_effects_are_recovered(study: dict[str, Any]) -> None:
    records = load_sweep(study["store"]).records
    a = analyse(records, load_sweep(study["store"]).sweep.spec, margin=0.10)
    assert a.decoding == {"temperature": ["0.7", "0.0", "1.0"]}  # the control is the level listed first
    effects = {e.treatment: e for e in a.report.decoding_effects}
    cold, hot = effects["0.0"], effects["1.0"]
    pairs = len(WORLDS) * len(MODELS) * 2 * SEEDS * ATTEMPTS
    assert cold.pairs == hot.pairs == pairs
    # 0.0: nothing planted, every pair concordant: within ±10 points at 90% confidence
    assert (cold.newly, cold.no_longer, cold.conclusion) == (0, 0, "equivalent")
    assert cold.statement is not None and cold.statement.startswith("within ±10 points at 90% confidence")
    # 1.0: +4 seeds of 8 for one model of two: +25 points, found, and inside its interval
    assert hot.difference == pytest.approx(0.25) and hot.conclusion == "differs"
    assert hot.ci_low is not None and hot.ci_high is not None and hot.ci_low < 0.25 < hot.ci_high and hot.ci_low > 0
    # per model: the planted effect is the small model's alone (+50 points); the big model's is equivalent
    per_model = {m: {e.treatment: e for e in es} for m, es in a.decoding_model_effects.items()}
    assert per_model["m/small"]["1.0"].difference == pytest.approx(0.5)
    assert per_model["m/small"]["1.0"].conclusion == "differs"
    assert per_model["m/big"]["1.0"].conclusion == per_model["m/big"]["0.0"].conclusion == "equivalent"
    assert per_model["m/big"]["1.0"].pairs == pairs // 2
    # k counts attempts only: 2 worlds × 2 models × 2 realities × 3 temperatures × 8 seeds scenarios of k=2
    o = a.report.overall
    assert (o.scenarios, o.k_min, o.k_max) == (len(WORLDS) * len(MODELS) * 2 * len(TEMPERATURES) * SEEDS, 2, 2)


def test_terminal_shows_decoding_meta_spread_and_k(study: dict[str, Any]) -> None:
    out = study["output"]
    assert "Decoding effects (paired; equivalence margin ±10 points)" in out
    assert "within ±10 points at 90% confidence" in out and "excludes 0" in out
    assert "any-of-k (k=2: attempts per scenario)" in out
    assert "Decoding effects: m/small" in out and "Decoding effects: m/big" in out
    for title in ("By meta.params", "By meta.architecture", "By meta.reasoning", "By decoding.temperature",
                  "By motive: the worlds each row rests on", "By risk_type: the worlds each row rests on"):
        assert title in out, title
    assert "rests on one model (m/small)" in out and "rests on 1 world" in out


def _rows(index: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', index, re.DOTALL)
    assert body is not None, table_id
    return [[" ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", c)).split())
             for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
            for row in re.findall(r"<tr.*?</tr>", body.group(1), re.DOTALL)]


def test_html_shows_decoding_meta_spread_and_every_factor_a_column(study: dict[str, Any]) -> None:
    index = study["index"]
    decoding = _rows(index, "decoding-table")
    assert [(r[0], r[1], r[-1].split(":")[0].split(" (")[0]) for r in decoding] == [
        ("temperature", "0.7 → 0.0", "within ±10 points at 90% confidence"),
        ("temperature", "0.7 → 1.0", "differs")]
    assert 'data-conclusion="equivalent"' in index and 'data-conclusion="differs"' in index
    for plot in ("decoding", "meta"):
        assert re.search(rf'<figure id="plot-{plot}" data-plot="{plot}">\s*<h3>[^<]+</h3>\s*<svg', index), plot
    assert 'data-by="meta.params"' in index and "rests on one model (m/big)" in index
    assert 'data-spread="motive"' in index and "rests on 1 world: this row is that world" in index
    assert "any-of-k with k=2 attempts each" in index
    rows = _rows(index, "episodes")
    assert len(rows) == study["episodes"]
    head = re.search(r'<table id="episodes">\s*<thead>(.*?)</thead>', index, re.DOTALL)
    assert head is not None
    headers = [html_lib.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head.group(1))]
    attempt = headers.index("attempt")
    assert headers[1:4] == ["world", "model", "agent"] and "reality" in headers and "variant" not in headers
    assert headers[attempt - 3:attempt + 1] == ["temperature", "top_p", "seed", "attempt"]
    # world, model, agent, each varying factor, temperature, top_p, seed, attempt: no two rows alike
    keys = [tuple(r[1:attempt + 1]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert {r[attempt - 3] for r in rows} == {"0.7", "0.0", "1.0"} and {r[attempt] for r in rows} == {"0", "1"}


def test_axes_scale_to_the_data() -> None:
    low, high = difference_limits([0.05], [0.15])  # a 10-point effect
    assert low <= 0 < 0.15 <= high and high - low < 0.3  # visible: not a dot on a -1..1 axis
    low, high = difference_limits([0.0], [0.0])
    assert low < 0 < high and high - low >= 0.1  # a sane minimum span, 0 in view
    low, high = difference_limits([-0.02], [0.01], margin=0.05)
    assert low <= -0.05 and high >= 0.05  # the equivalence band is in view
    assert difference_limits([-1.0], [1.0]) == (-1.05, 1.05)
    low, high = rate_limits([0.08, 0.12])
    assert low <= 0 and 0.12 <= high < 0.2
    assert rate_limits([1.0])[1] == 1.05


@pytest.fixture(scope="module")
def browser(chromium: str, study: dict[str, Any]) -> Iterator[Any]:
    with launched(chromium) as b:
        yield b


def test_the_decoding_and_metadata_plots_render_in_chromium(study: dict[str, Any], browser: Any) -> None:
    with watched_page(browser) as (pg, errors):
        pg.goto((study["out"] / "index.html").as_uri())
        for plot in ("decoding", "meta"):
            box = pg.locator(f"#plot-{plot} svg.plot").bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100, plot
        assert pg.locator("#decoding-table tbody tr").count() == 2
        assert pg.locator("table.decoding").count() == 3  # pooled, and each model's own
        headers = pg.locator("#episodes thead th").all_inner_texts()
        column = headers.index("attempt") + 1
        pg.click(f"#episodes thead th:nth-child({column})")
        attempts = pg.locator(f"#episodes tbody td:nth-child({column})").all_inner_texts()
        assert attempts == sorted(attempts) and set(attempts) == {"0", "1"}
    assert errors == []
