"""Sweeps: a grid of episodes run to completion into a resumable SQLite store (docs/sweeps.md)."""

from impress_sim.sweep.runner import SweepSummary, run_sweep
from impress_sim.sweep.spec import SweepJob, SweepSpec, config_hash, expand
from impress_sim.sweep.store import Store, export_jsonl, export_parquet

__all__ = ["Store", "SweepJob", "SweepSpec", "SweepSummary", "config_hash", "expand", "export_jsonl",
           "export_parquet", "run_sweep"]
