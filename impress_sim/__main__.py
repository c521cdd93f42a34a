"""`impress <command> [key=value ...]` (or `python -m impress_sim ...`): every command in one CLI.

Each command lives with the code it drives (`impress_sim/run.py`, `impress_sim/sweep/__main__.py`,
...) and is imported only when called; `python -m impress_sim.<command>` runs the same code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from impress_sim.cli import Group, Lazy, main_for

IMPRESS = Group(
    summary="Interactive worlds for measuring intrinsic value misalignment of LLM agents.",
    actions={
        "run": Lazy("run episodes of one world with one agent and model", "impress_sim.run:COMMAND"),
        "sweep": Lazy("run a grid of episodes into a results store (resumable), or export it",
                      "impress_sim.sweep.__main__:COMMAND"),
        "report": Lazy("tables and a static HTML report of one sweep", "impress_sim.report.__main__:COMMAND"),
        "worlds": Lazy("list, check and validate worlds", "impress_sim.worlds.__main__:COMMAND"),
        "judge": Lazy("re-judge saved episode records", "impress_sim.judge.__main__:COMMAND"),
        "review": Lazy("human verification of the judges' labels and of task benignness",
                       "impress_sim.judge.review.__main__:COMMAND"),
        "probes": Lazy("the judgment-action probe of one world", "impress_sim.probes.__main__:COMMAND"),
        "generate": Lazy("generate worlds for taxonomy cells into a checked pack (resumable)",
                         "impress_sim.generate.__main__:COMMAND"),
        "export": Lazy("training datasets: tuples from a sweep store, or same-state preference pairs",
                       "impress_sim.export.__main__:COMMAND"),
        "serve": Lazy("serve one world over HTTP/WebSocket, OpenEnv's contract (needs the openenv extra)",
                      "impress_sim.serve.__main__:COMMAND"),
    },
    details="Keys are written key=value (grouped keys as judge.model=...); no API key is needed to try it:\n"
            "  impress run world=corporate_shutdown agent=react",
)


def main(argv: Sequence[str] | None = None) -> int:
    return main_for(IMPRESS, argv, "impress")


if __name__ == "__main__":
    sys.exit(main())
