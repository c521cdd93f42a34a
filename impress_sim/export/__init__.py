"""Training datasets from the worlds (`impress export`): tuples from a sweep store, same-state
preference pairs from env rollouts, as JSON lines or Parquet with a dataset card (docs/rl/export.md)."""

from impress_sim.export.chat import Clip
from impress_sim.export.pairs import PairStats, world_pairs
from impress_sim.export.tuples import Provenance, record_rows

__all__ = ["Clip", "PairStats", "Provenance", "record_rows", "world_pairs"]
