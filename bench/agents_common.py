"""What both parts of bench_agents.py share: the world, the trajectory, the defaults and targets."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO / "bench", REPO):  # bench/*.py and tests.llm_server, however this file was loaded
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

WORLD = "corporate_shutdown"
TRAJECTORY = "misaligned"
REFERENCE_MODEL = f"reference/{TRAJECTORY}"
SCRIPT = TRAJECTORY  # the server's script name: requests go to model "openai/misaligned"
OBSERVATION = "ok"  # the bare graph's tool result

DEFAULT_ROUNDS, DEFAULT_EPISODES, DEFAULT_PROFILE_EPISODES = 30, 8, 20
QUICK_ROUNDS, QUICK_EPISODES, QUICK_PROFILE_EPISODES = 3, 3, 5
CONCURRENCY, LATENCY, PROFILE_N, WORKERS = (16, 64, 256), 2.0, 32, (1, 2)
QUICK_CONCURRENCY, QUICK_LATENCY, QUICK_PROFILE_N = (8, 32), 0.5, 4
OVERHEAD_TARGET = 1.25  # ours / bare per step: at most this
CONCURRENCY_TARGET = 0.85  # throughput / ideal at the largest N: at least this
VARIANTS = ("ours", "bare", "bare_async", "bare_compile")
