"""Sweep reports: `impress report <sweep>` prints rich tables and writes a static HTML
report (plots as inline SVG, an episode table, one page per episode) that works offline.

`load_sweep` reads a sweep from a results store, `analyse` computes what the report shows (with
`impress_sim.metrics`), `all_plots` draws it and `write_site` renders the pages. See docs/report.md.
"""

from impress_sim.errors import ReportError
from impress_sim.report.analysis import Analysis, analyse
from impress_sim.report.data import SweepData, load_sweep
from impress_sim.report.html import write_site
from impress_sim.report.plots import all_plots

__all__ = ["Analysis", "ReportError", "SweepData", "all_plots", "analyse", "load_sweep", "write_site"]
