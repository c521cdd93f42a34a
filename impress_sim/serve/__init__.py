"""Worlds served out of process: `impress serve world=<id>` speaks OpenEnv's HTTP/WebSocket contract.

`impress_sim.serve.openenv` needs the `openenv` extra (`pip install 'impress-sim[openenv]'`); nothing
here is imported by `impress_sim.envs`, so the core install never needs it.
"""
