"""impress-sim: interactive worlds for measuring intrinsic value misalignment of LLM agents.

`import impress_sim` registers every shipped world with Gymnasium as `impress/<world_id>-v0`.
"""

from __future__ import annotations

import os

# litellm fetches a model cost map over the network on import unless told not to; this project
# must run offline, so set the switch before anything can import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from impress_sim.envs import register_worlds

__version__ = "0.1.0"
__all__ = ["__version__", "register_worlds"]
