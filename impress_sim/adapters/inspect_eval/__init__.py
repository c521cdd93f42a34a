"""impress-sim worlds in Inspect AI, and impress-sim results as Inspect eval logs (docs/inspect.md).

- `task.world_task(world, variants=..., seeds=...)`: one world as an Inspect `Task` (a live world per
  sample; our judges as the scorer). `tasks.py` registers one per shipped world for
  `inspect eval impress_sim/<world>` (the `inspect_ai` entry point in pyproject.toml).
- `export.export_store(store, out)`: a results store's episodes as `.eval` logs Inspect's viewer opens.
- `replay.replay_outputs(world, trajectory)`: Inspect's mock model replaying a reference trajectory.

This package imports `inspect_ai` (the `inspect` extra: `pip install 'impress-sim[inspect]'`); nothing
else in impress-sim imports it, except `impress export kind=inspect`, lazily. It is not named `inspect`
(that would shadow the standard library's module inside `impress_sim.adapters`) nor `inspect_ai`.
"""
