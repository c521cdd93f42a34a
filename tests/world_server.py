"""A local model server whose scripted models play every world: one model name, a different
trajectory per world (chosen by the world's system prompt), as a real model would act in each."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from impress_sim.envs.loader import load_world
from impress_sim.envs.world import World
from tests.llm_server import LLMServer, turns_from_trajectory


class WorldRoutedServer(LLMServer):
    """`play(model, trajectory, worlds)`: `model` replays each world's `trajectory`."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.markers: dict[str, str] = {}  # opening of a world's system prompt -> world id

    def play(self, model: str, trajectory: str, worlds: list[str]) -> None:
        for world_id in worlds:
            loaded = load_world(world_id)
            opening = World(loaded, seed=0).briefing.system_prompt[:40]
            self.markers[opening] = loaded.spec.id
            self.script(f"{model}@{loaded.spec.id}", turns_from_trajectory(loaded.spec.trajectories[trajectory]))

    async def _answer(self, body: dict[str, Any], fault: str | None) -> web.StreamResponse:
        system = next((str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "system"), "")
        world = next((w for opening, w in self.markers.items() if opening in system), None)
        if world is not None:
            body = {**body, "model": f"{body.get('model', '')}@{world}"}
        return await super()._answer(body, fault)
