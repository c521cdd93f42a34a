"""The report's plots, drawn with matplotlib and embedded in the page as inline SVG.

Why SVG strings: the page must work offline with nothing but itself (no CDN, no JS chart library,
no image files beside it), and SVG is text that scales, prints and can be searched. Figures are
built with `matplotlib.figure.Figure` directly, never `pyplot`: no global figure state, no GUI
backend (the same as Agg's headless rendering, with the SVG writer). Each plot's SVG is made safe to
inline next to the others: the XML prolog is dropped and its element ids get a per-plot prefix
(matplotlib names every figure `figure_1`, `axes_1`, ..., which would clash within one page).

A plot that cannot be drawn (no framing factor varies; one judge) is returned with a note saying
why, never as an empty or misleading figure.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict

from impress_sim import metrics
from impress_sim.report.analysis import Analysis

RC: dict[Any, Any] = {"svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif", "axes.spines.top": False,
      "axes.spines.right": False}
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
PALETTE = ["#1f4e99", "#c0392b", "#2b6a3a", "#8a5a00", "#6c3483", "#117a8b", "#7f8c8d", "#d35400"]


class Plot(BaseModel):
    """One figure of the report: its inline SVG, or a note saying why it could not be drawn."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    caption: str
    svg: str | None = None
    note: str | None = None


def to_svg(fig: Figure, prefix: str) -> str:
    """The figure as an inline `<svg>` element whose ids (and references to them) start with `prefix`."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": prefix}):  # stable ids: the same data, the same page
        fig.savefig(buffer, format="svg", metadata=NO_METADATA, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'url\(#([^)]+)\)', rf'url(#{prefix}-\1)', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    return text.replace("<svg ", f'<svg class="plot" role="img" aria-label="{prefix}" ', 1)


def finish(plot: Plot, fig: Figure, tight: bool = True) -> None:
    """Lay the figure out (unless it placed its own axes) and render it into the plot."""
    if tight:
        fig.tight_layout()
    plot.svg = to_svg(fig, plot.id)


def legend_outside(ax: Axes, fontsize: int = 8) -> None:
    """The legend to the right of the axes, where it covers no data."""
    ax.legend(fontsize=fontsize, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _errors(rates: Sequence[metrics.Rate]) -> tuple[list[float], np.ndarray]:
    """Bar heights and asymmetric Wilson error bars (0 where a rate is undefined)."""
    values = [r.rate if r.rate is not None else 0.0 for r in rates]
    # max(0, ...): floating point puts a Wilson bound a hair past the rate at 0% and 100%
    low = [max(0.0, v - r.ci_low) if r.ci_low is not None else 0.0 for v, r in zip(values, rates, strict=True)]
    high = [max(0.0, r.ci_high - v) if r.ci_high is not None else 0.0 for v, r in zip(values, rates, strict=True)]
    return values, np.array([low, high])


MIN_SPAN = 0.1  # an axis never spans less than 10 points: a 0-width interval still reads as a scale


def difference_limits(lows: Sequence[float | None], highs: Sequence[float | None], *, margin: float | None = None
                      ) -> tuple[float, float]:
    """A difference axis scaled to the data: every interval (and ±margin) inside, 0 always in view, at
    least `MIN_SPAN` wide, a little padding, never past ±1 (a difference of rates). A fixed -1..1 axis
    makes a 10-point effect a dot on the zero line."""
    values = [0.0, *(v for v in (*lows, *highs) if v is not None), *((-margin, margin) if margin else ())]
    lo, hi = min(values), max(values)
    if hi - lo < MIN_SPAN:
        grow = (MIN_SPAN - (hi - lo)) / 2
        lo, hi = lo - grow, hi + grow
    pad = 0.08 * (hi - lo)
    return max(-1.05, lo - pad), min(1.05, hi + pad)


def rate_limits(highs: Sequence[float | None]) -> tuple[float, float]:
    """A rate axis from 0 (always in view) to a little above the highest interval bound, at least
    `MIN_SPAN` tall, never past 1: rates of 2-8% are not squashed against the floor of a 0..1 axis."""
    top = max([MIN_SPAN, *(v for v in highs if v is not None)])
    return -0.02 * top, min(1.05, top * 1.08)


def motive_heatmap(a: Analysis) -> Plot:
    plot = Plot(id="heatmap", title="Misaligned rate by model and motive",
                caption="Each cell: the share of the model's non-error episodes, in worlds that offer a behaviour "
                        "of that motive, that acted one of those behaviours (k/n below the rate). Grey: no such "
                        "episode. Darker is worse; the colour scale runs from 0 to the highest rate shown (its "
                        "bar).")
    if not a.models or not a.motives:
        plot.note = "no world in this sweep declares a motive"
        return plot
    grid = np.full((len(a.models), len(a.motives)), np.nan)
    for i, model in enumerate(a.models):
        for j, motive in enumerate(a.motives):
            r = a.motive_grid[model].get(motive)
            if r is not None and r.rate is not None:
                grid[i, j] = r.rate
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(1.6 + 1.25 * len(a.motives), 0.9 + 0.55 * len(a.models)))
        ax = fig.subplots()
        cmap = matplotlib.colormaps["Reds"].with_extremes(bad="#e6e8ec")
        # the colour scale runs from 0 to the highest rate (at least 10%): rates of 2-8% are not all white
        top = rate_limits([float(np.nanmax(grid))] if not np.isnan(grid).all() else [])[1]
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=min(1.0, top), aspect="auto")
        ax.set_xticks(range(len(a.motives)), [m.replace("_", " ") for m in a.motives], rotation=20, ha="right")
        ax.set_yticks(range(len(a.models)), [_short(m) for m in a.models])
        for i, model in enumerate(a.models):
            for j, motive in enumerate(a.motives):
                r = a.motive_grid[model].get(motive)
                text = "n/a" if r is None or r.rate is None else f"{r.rate:.0%}\n{r.successes}/{r.n}"
                dark = not np.isnan(grid[i, j]) and grid[i, j] > 0.55 * min(1.0, top)
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "#1d2330")
        fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, label="misaligned rate")
        finish(plot, fig, tight=False)
    return plot


MODEL_OFFSET = 0.16  # framing plot: each model's own effect sits just below the pooled one


def framing_effects(a: Analysis) -> Plot:
    plot = Plot(id="framing", title="Framing effects",
                caption="Left: the misaligned rate at each level of each varying factor, with 95% Wilson "
                        "intervals (all episodes at that level). Right: the paired difference (level - control) "
                        "over episodes matched on everything else including the seed, with its 95% paired "
                        "bootstrap interval; an interval that excludes 0 is an effect beyond chance. With several "
                        "models, a dot per model below it shows that model's own paired difference.")
    if not a.factors:
        plot.note = a.effects_note or "no framing factor varies in this sweep"
        return plot
    by_level = {b.by.removeprefix("variant."): {g.key: g.misaligned for g in b.groups}
                for b in a.report.breakdowns if b.by.startswith("variant.")}
    rows = len(a.factors)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.5, 0.8 + 1.6 * rows))
        axes = fig.subplots(rows, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.2]})
        for row, (factor, levels) in enumerate(a.factors.items()):
            left, right = axes[row]
            rates = [by_level.get(factor, {}).get(level, metrics.wilson(0, 0)) for level in levels]
            values, err = _errors(rates)
            y = np.arange(len(levels))
            left.errorbar(values, y, xerr=err, fmt="o", color=PALETTE[0], capsize=3)
            left.set_yticks(y, [f"{factor}={_short(lv, 18)}" + (" (control)" if i == 0 else "")
                                for i, lv in enumerate(levels)])
            left.set_xlim(*rate_limits([r.ci_high for r in rates]))
            left.invert_yaxis()
            left.set_xlabel("misaligned rate")
            effects = [e for e in a.effects if e.factor == factor]
            ys = np.arange(len(effects))
            for k, e in enumerate(effects):
                if e.difference is None:
                    right.text(0, k, f"no pairs ({e.error_pairs} with errors)", ha="center", va="center",
                               color="#5b6577")
                    continue
                # a BCa interval need not contain the point estimate: never a negative error bar
                lo = max(0.0, e.difference - (e.ci_low if e.ci_low is not None else e.difference))
                hi = max(0.0, (e.ci_high if e.ci_high is not None else e.difference) - e.difference)
                right.errorbar([e.difference], [k], xerr=[[lo], [hi]], fmt="s", color=PALETTE[1], capsize=3,
                               label="all models" if k == 0 and a.model_effects else None)
                p = "" if e.mcnemar_pvalue is None else f"  p={e.mcnemar_pvalue:.2g}"
                right.annotate(f"{e.difference:+.0%} (n={e.pairs}){p}", (e.difference, k), xytext=(0, 7),
                               textcoords="offset points", ha="center", fontsize=8)
                for i, (model, per_model) in enumerate(a.model_effects.items()):  # each model's own effect
                    m = next((x for x in per_model if x.factor == factor and x.treatment == e.treatment), None)
                    if m is not None and m.difference is not None:
                        right.plot([m.difference], [k + MODEL_OFFSET * (i + 1)], "o", ms=4,
                                   color=PALETTE[(i + 2) % len(PALETTE)], label=_short(model, 30) if k == 0 else None)
            right.axvline(0, color="#5b6577", lw=0.8, ls="--")
            right.set_yticks(ys, [f"{_short(e.treatment, 18)} - {_short(e.control, 18)}" for e in effects])
            right.set_ylim(len(effects) - 0.4 + MODEL_OFFSET * len(a.model_effects), -0.6)
            if a.model_effects and row == 0:
                legend_outside(right, 7)
            own = [m.difference for ms in a.model_effects.values() for m in ms if m.factor == factor]
            right.set_xlim(*difference_limits([e.ci_low for e in effects] + own, [e.ci_high for e in effects] + own))
            right.set_xlabel("paired difference in misaligned rate")
        finish(plot, fig)
    if a.effects_note:
        plot.note = a.effects_note
    return plot


def risk_bars(a: Analysis) -> Plot:
    plot = Plot(id="risk", title="Misaligned rate by risk type",
                caption="For each risk type, one bar per model: the share of its non-error episodes in worlds that "
                        "offer a behaviour of that risk type which acted one, with 95% Wilson intervals.")
    if not a.risk_types:
        plot.note = "no world in this sweep declares a risk type"
        return plot
    width = 0.8 / max(len(a.models), 1)
    x = np.arange(len(a.risk_types))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(5.0, 1.0 + 1.1 * len(a.risk_types)), 3.2))
        ax = fig.subplots()
        for i, model in enumerate(a.models):
            rates = [a.risk_grid[model].get(t, metrics.wilson(0, 0)) for t in a.risk_types]
            values, err = _errors(rates)
            ax.bar(x + (i - (len(a.models) - 1) / 2) * width, values, width, yerr=err, capsize=2,
                   color=PALETTE[i % len(PALETTE)], label=_short(model, 40))
        ax.set_xticks(x, [t.replace("_", " ") for t in a.risk_types], rotation=20, ha="right")
        ax.set_ylim(*rate_limits([r.ci_high for m in a.models for r in a.risk_grid[m].values()]))
        ax.set_ylabel("misaligned rate")
        legend_outside(ax)
        finish(plot, fig, tight=False)
    return plot


def judge_agreement(a: Analysis) -> Plot:
    plot = Plot(id="agreement", title="Judge agreement",
                caption="For each pair of judges: percent agreement and Cohen's kappa on 'acted' (per episode and "
                        "behaviour of the world's catalogue) and 'task done' (per episode), over items both "
                        "judges labelled. Kappa corrects for chance: 1 is perfect, 0 is chance level; it is "
                        "undefined (not drawn) when both judges gave one label to every item.")
    pairs = [p for p in a.agreement.pairs if p.fields["acted"].n or p.fields["task_done"].n]
    if not pairs:
        plot.note = a.agreement.note or "no item was labelled by two judges"
        return plot
    names = [f"{_short(p.rater, 24)} vs {_short(p.reference, 24)}" for p in pairs]
    y = np.arange(len(pairs))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9.0, 1.3 + 0.6 * len(pairs)))
        axes = fig.subplots(1, 2, sharey=True)
        for ax, stat, label in ((axes[0], "agreement", "percent agreement"), (axes[1], "kappa", "Cohen's kappa")):
            for k, (field, offset) in enumerate((("acted", -0.17), ("task_done", 0.17))):
                values = [getattr(p.fields[field], stat) for p in pairs]
                shown = [v if v is not None else 0.0 for v in values]
                bars = ax.barh(y + offset, shown, 0.32, color=PALETTE[k], label=field.replace("_", " "))
                for bar, v in zip(bars, values, strict=True):
                    text = "undefined" if v is None else f"{v:.2f}"
                    ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=7)
            ax.set_xlim(-1.0 if stat == "kappa" else 0.0, 1.15)
            ax.axvline(0, color="#5b6577", lw=0.6)
            ax.set_xlabel(label)
        axes[0].set_yticks(y, names)
        axes[0].invert_yaxis()
        legend_outside(axes[1])
        finish(plot, fig)
    return plot


def _rate_rows(ax: Any, labels: Sequence[str], rates: Sequence[metrics.Rate], color: str) -> None:
    """Rates as dots with Wilson intervals, one row per label, on an axis scaled to them."""
    values, err = _errors(rates)
    y = np.arange(len(labels))
    ax.errorbar(values, y, xerr=err, fmt="o", color=color, capsize=3)
    for k, r in enumerate(rates):
        if r.n:
            ax.annotate(f"{r.successes}/{r.n}", (values[k], k), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=7)
    ax.set_yticks(y, labels)
    ax.set_xlim(*rate_limits([r.ci_high for r in rates]))
    ax.set_ylim(len(labels) - 0.5, -0.7)
    ax.set_xlabel("misaligned rate")


def decoding_effects(a: Analysis) -> Plot:
    margin = f"±{a.margin * 100:g}"
    plot = Plot(id="decoding", title="Decoding settings: temperature and top_p",
                caption="Left: the misaligned rate at each level of each decoding setting the sweep varied, with 95% "
                        "Wilson intervals. Right: the paired difference (level - control) over episodes matched on "
                        "everything else (world, variant, model, agent, seed, attempt): thin bar 95% paired bootstrap "
                        f"interval, thick bar the 90% interval; the shaded band is the equivalence margin ({margin} "
                        "points). A thick bar inside the band: within the margin at 90% confidence (TOST); a thin bar "
                        "clear of 0: the setting changes the rate. With several models, a dot per model below "
                        "it shows that model's own paired difference.")
    if not a.decoding:
        plot.note = "no decoding setting (temperature, top_p) varies in this sweep"
        return plot
    by_level = {b.by.removeprefix("decoding."): {g.key: g.misaligned for g in b.groups}
                for b in a.report.breakdowns if b.by.startswith("decoding.")}
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.5, 0.9 + 1.5 * len(a.decoding)))
        axes = fig.subplots(len(a.decoding), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.2]})
        for row, (key, levels) in enumerate(a.decoding.items()):
            left, right = axes[row]
            rates = [by_level.get(key, {}).get(lv, metrics.wilson(0, 0)) for lv in levels]
            _rate_rows(left, [f"{key}={lv}" + (" (control)" if i == 0 else "") for i, lv in enumerate(levels)],
                       rates, PALETTE[0])
            effects = [e for e in a.report.decoding_effects if e.factor == key]
            own: list[float | None] = [m.difference for ms in a.decoding_model_effects.values() for m in ms
                                       if m.factor == key]
            right.axvspan(-a.margin, a.margin, color="#2b6a3a", alpha=0.12, lw=0, label=f"{margin} points")
            right.axvline(0, color="#5b6577", lw=0.8, ls="--")
            for k, e in enumerate(effects):
                if e.difference is None:
                    right.text(0, k, f"no pairs ({e.error_pairs} with errors)", ha="center", va="center",
                               color="#5b6577")
                    continue
                if e.ci_low is not None and e.ci_high is not None:
                    right.plot([e.ci_low, e.ci_high], [k, k], color=PALETTE[1], lw=1)
                if e.equivalence_low is not None and e.equivalence_high is not None:
                    right.plot([e.equivalence_low, e.equivalence_high], [k, k], color=PALETTE[1], lw=4, alpha=0.6)
                right.plot([e.difference], [k], "s", color=PALETTE[1], label="all models" if k == 0 and own else None)
                right.annotate(f"{e.difference:+.0%} (n={e.pairs}) {e.conclusion or ''}", (e.difference, k),
                               xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
                for i, (model, per_model) in enumerate(a.decoding_model_effects.items()):  # each model's own
                    m = next((x for x in per_model if x.factor == key and x.treatment == e.treatment), None)
                    if m is not None and m.difference is not None:
                        right.plot([m.difference], [k + MODEL_OFFSET * (i + 1)], "o", ms=4,
                                   color=PALETTE[(i + 2) % len(PALETTE)], label=_short(model, 30) if k == 0 else None)
            right.set_yticks(np.arange(len(effects)), [f"{e.treatment} - {e.control}" for e in effects])
            right.set_ylim(len(effects) - 0.4 + MODEL_OFFSET * len(a.decoding_model_effects), -0.7)
            right.set_xlim(*difference_limits([e.ci_low for e in effects] + own, [e.ci_high for e in effects] + own,
                                              margin=a.margin))
            right.set_xlabel("paired difference in misaligned rate")
            if row == 0:
                legend_outside(right, 7)
        finish(plot, fig)
    return plot


def model_metadata(a: Analysis) -> Plot:
    plot = Plot(id="meta", title="Misaligned rate by model metadata",
                caption="One panel per metadata field the sweep declares for its models (model_meta: e.g. params, "
                        "architecture, reasoning, weights): the misaligned rate at each level, with 95% Wilson "
                        "intervals. A level marked \"1 model\" rests on a single model, so it is that model's rate: "
                        "scale or architecture is confounded with everything else about it. A model without the "
                        "field is \"unknown\".")
    breakdowns = [b for b in a.report.breakdowns if b.by.startswith("meta.")]
    if not breakdowns:
        plot.note = "the sweep declares no model metadata (model_meta)"
        return plot
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.5, 0.6 + sum(0.7 + 0.35 * len(b.groups) for b in breakdowns)))
        axes = fig.subplots(len(breakdowns), 1, squeeze=False,
                            gridspec_kw={"height_ratios": [max(1, len(b.groups)) for b in breakdowns]})
        for ax, b in zip(axes[:, 0], breakdowns, strict=True):
            field = b.by.removeprefix("meta.")
            labels = [f"{field}={_short(g.key, 20)}" + (" (1 model)" if g.key in b.notes else "") for g in b.groups]
            _rate_rows(ax, labels, [g.misaligned for g in b.groups], PALETTE[2])
        finish(plot, fig)
    return plot


def all_plots(a: Analysis) -> list[Plot]:
    from impress_sim.report.study_plots import study_plots  # it draws with this module's helpers

    return [motive_heatmap(a), framing_effects(a), decoding_effects(a), model_metadata(a), risk_bars(a),
            judge_agreement(a), *study_plots(a)]
