"""Render the report's pages with Jinja2 (autoescape on): `index.html` and `episodes/<hash>.html`.

Records hold model output, which is untrusted: every value goes through Jinja2's autoescaping, and
the only markup inserted unescaped is our own (matplotlib's SVG and the table script). Each page also
carries a Content-Security-Policy that allows nothing from outside the page (`default-src 'none'`)
and, on the index, only the one inline script whose hash it names: the report works offline by
construction, and a string that slipped past escaping still could not load or run anything.

Each template is compiled once and rendered per episode, which keeps a 1,000-episode report fast.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import jinja2
from markupsafe import Markup

from impress_sim import metrics, metrics_text
from impress_sim.report.analysis import Analysis
from impress_sim.report.data import SweepData
from impress_sim.report.plots import Plot
from impress_sim.report.views import PAGES, episode_view, index_row

INDEX = "index.html"


def environment() -> jinja2.Environment:
    """Our templates (named report_*), then the review pages' macros (diff cells read the same in both)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader("impress_sim.report", "templates"),
                                    jinja2.PackageLoader("impress_sim.judge.review", "templates")]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(rate=metrics_text.format_rate, pct=_pct, interval=_interval, mean=_mean,
                       mean_interval=_mean_interval, k=metrics.k_text, spread=metrics_text.format_spread,
                       difference=metrics_text.format_difference)  # the terminal tables' format
    env.globals["columns"] = metrics_text.SUMMARY_COLUMNS  # the same columns, filled the same way, as the terminal
    return env


def _pct(r: metrics.Rate) -> str:
    return "–" if r.rate is None else f"{r.rate:.0%}"


def _interval(r: metrics.Rate) -> str:
    if r.ci_low is None or r.ci_high is None:
        return ""
    return f"[{r.ci_low:.0%}, {r.ci_high:.0%}] ({r.successes}/{r.n})"


def _mean(m: metrics.Mean) -> str:
    return "–" if m.mean is None else f"{m.mean:.2f}"


def _mean_interval(m: metrics.Mean) -> str:
    if m.ci_low is None or m.ci_high is None:
        return f"(n={m.n})" if m.n else ""
    return f"[{m.ci_low:.2f}, {m.ci_high:.2f}] (n={m.n})"


def csp(script: str | None = None) -> str:
    """Nothing from outside the page; inline styles (ours and the SVGs'); only `script`, by its hash."""
    scripts = "'none'"
    if script is not None:
        scripts = "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
    return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {scripts}"


def write_site(out: Path, data: SweepData, analysis: Analysis, plots: list[Plot]) -> Path:
    """Write the index and one page per episode under `out`; returns the index's path."""
    env = environment()
    factors = list(analysis.factors)
    pages = out / PAGES
    pages.mkdir(parents=True, exist_ok=True)
    template = env.get_template("report_episode.html.j2")
    for episode in data.episodes:
        html = template.render(e=episode_view(episode.config_hash, episode.record, factors), csp=csp(),
                               sweep=data.sweep.id)
        (pages / f"{episode.config_hash}.html").write_text(html, encoding="utf-8")
    script = env.get_template("report_table.js.j2").render()
    # every factor that varies among the episodes gets its own column (a factor that differs only between
    # worlds too: it tells rows apart even where it is no framing of this sweep)
    columns = [*factors, *(f for f in metrics.varying_factors(data.records) if f not in factors)]
    rows = [index_row(e, columns) for e in data.episodes]
    index = env.get_template("report_index.html.j2").render(
        data=data, a=analysis, o=analysis.report.overall, plots=plots, rows=rows, factor_columns=columns,
        script=Markup(script),
        csp=csp(script), replays=sum(r["is_replay"] for r in rows))
    path = out / INDEX
    path.write_text(index, encoding="utf-8")
    return path
