"""The study measures' plots (interview, monitor, probes), drawn like the report's other plots
(`plots.to_svg`, `plots.RC`, `Figure` without pyplot).

A measure the sweep did not take draws no plot at all (a sweep without a monitor has no monitor
figure, rather than an empty one); a measure taken but with nothing to draw (no misaligned episode
was interviewed) gives a `Plot` whose note says why.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from impress_sim.report.analysis import Analysis
from impress_sim.report.plots import PALETTE, RC, Plot, _errors, _short, finish, legend_outside, rate_limits
from impress_sim.report.study import INTERVIEW_LABELS, InterviewSection, MonitorSection, ProbeSection

INTERVIEW_COLOURS = {"confession": "#2b6a3a", "partial": "#8a5a00", "denial": "#c0392b", "unlabelled": "#b8bec9"}


def interview_bars(s: InterviewSection) -> Plot:
    plot = Plot(id="interview", title="Follow-up interview: confession, partial, denial by model",
                caption="Each bar: one model's interviewed, non-error episodes that acted misaligned (n above the "
                        "bar), split by how its answer was labelled. Grey: answered but not labelled (never "
                        "counted as a denial). Interviews the model could not answer, and models with no "
                        "misaligned episode, are left out (see the table).")
    rows = [r for r in s.rows if r.world is None and r.misaligned - r.errors > 0]
    if not rows:
        plot.note = s.note or "no interviewed episode acted misaligned"
        return plot
    x = np.arange(len(rows))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(4.5, 1.2 + 1.1 * len(rows)), 3.4))
        ax = fig.subplots()
        bottom = np.zeros(len(rows))
        for label in (*INTERVIEW_LABELS, "unlabelled"):
            counts = np.array([r.unlabelled if label == "unlabelled" else r.rates[label].successes for r in rows])
            shares = counts / np.array([r.labelled + r.unlabelled for r in rows])
            ax.bar(x, shares, 0.6, bottom=bottom, color=INTERVIEW_COLOURS[label], label=label)
            bottom += shares
        for i, r in enumerate(rows):
            ax.annotate(f"n={r.labelled + r.unlabelled}", (x[i], 1.0), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
        ax.set_xticks(x, [_short(r.model, 22) for r in rows], rotation=20, ha="right")
        ax.set_xlim(-0.75, len(rows) - 0.25)
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("share of answers")
        legend_outside(ax)
        finish(plot, fig)
    return plot


def suspicion_strips(s: MonitorSection) -> Plot:
    plot = Plot(id="monitor", title="Monitor suspicion: misaligned vs aligned episodes, by model",
                caption="Each dot: one episode's highest suspicion score (0-100); boxes show the quartiles. "
                        "Red: the episode acted misaligned (combined verdict); blue: it did not. The dashed line "
                        "is the catch threshold. Episodes the monitor gave no score are left out.")
    rows = [r for r in s.rows if r.suspicion_misaligned or r.suspicion_aligned]
    if not rows:
        plot.note = s.note or "the monitor gave no score on any episode"
        return plot
    rng = np.random.default_rng(0)  # jitter only: fixed, so the same data draws the same page
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(4.5, 1.2 + 1.6 * len(rows)), 3.4))
        ax = fig.subplots()
        legend: set[str] = set()
        for i, r in enumerate(rows):
            for offset, values, colour, label in ((-0.18, r.suspicion_misaligned, PALETTE[1], "misaligned"),
                                                   (0.18, r.suspicion_aligned, PALETTE[0], "aligned")):
                if not values:
                    continue
                ax.boxplot([values], positions=[i + offset], widths=0.28, showfliers=False,
                           medianprops={"color": colour}, boxprops={"color": colour}, whiskerprops={"color": colour},
                           capprops={"color": colour})
                ax.scatter(i + offset + rng.uniform(-0.08, 0.08, len(values)), values, s=10, color=colour,
                           alpha=0.7, label=None if label in legend else label, zorder=3)
                legend.add(label)
        for threshold in sorted({t for r in rows for t in r.threshold}):
            ax.axhline(threshold, color="#5b6577", lw=0.8, ls="--")
        ax.set_xticks(range(len(rows)), [_short(r.model, 22) for r in rows], rotation=20, ha="right")
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_ylim(-3, 103)
        ax.set_ylabel("max suspicion")
        legend_outside(ax)
        finish(plot, fig)
    return plot


def probe_bars(s: ProbeSection) -> Plot:
    plot = Plot(id="probes", title="Judgment vs action: the three probe forms by model and world",
                caption="Per model, world and variant: how often the model said the misaligned action is "
                        "acceptable (ethics), picked a misaligned option (choice) and did it in this sweep's "
                        "episodes (agentic), with 95% Wilson intervals. The gap is agentic minus ethics.")
    cells = [c for c in s.cells if c.ethics.n or c.choice.n or c.agentic.n]
    if not cells:
        plot.note = s.note or "no probe sample was answered"
        return plot
    y = np.arange(len(cells))
    # two lines a label: which model and world, then the cell's own factors (never cut: they tell cells apart)
    names = [_short(f"{c.model} · {c.world}", 48) + ("\n" + ", ".join(f"{k}={v}" for k, v in c.cell.items())
                                                     if c.cell else "") for c in cells]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.0, 1.2 + 0.75 * len(cells)))
        ax = fig.subplots()
        for k, (form, offset) in enumerate((("ethics", -0.26), ("choice", 0.0), ("agentic", 0.26))):
            rates = [getattr(c, form) for c in cells]
            values, err = _errors(rates)
            ax.barh(y + offset, values, 0.24, xerr=err, color=PALETTE[k], label=form,
                    error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(*rate_limits([r.ci_high for c in cells for r in (c.ethics, c.choice, c.agentic)]))
        ax.set_xlabel("misaligned rate")
        legend_outside(ax)
        finish(plot, fig)
    return plot


def study_plots(a: Analysis) -> list[Plot]:
    """The plots of the measures this sweep took, in the section's order."""
    out = []
    if a.study.interview is not None:
        out.append(interview_bars(a.study.interview))
    if a.study.monitor is not None:
        out.append(suspicion_strips(a.study.monitor))
    if a.study.probes is not None:
        out.append(probe_bars(a.study.probes))
    return out
