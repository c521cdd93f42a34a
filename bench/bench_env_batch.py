"""Benchmark: chat-env steps per second, one env after another vs N envs batched with `step_many`.

Run `python bench/bench_env_batch.py` (under a minute; `--rounds 1` for a quick look). Side by side in
every round, for N envs of one world, each taking the same assistant messages (an OpenAI tool call that
lists or reads mail, cycled; an env whose episode ends is reset):

1. `single`: the envs stepped one after another with `env.step` (a plain rollout loop);
2. `batched`: one `step_many(envs, messages)` per round of N messages (asyncio tasks, one per env);
3. `single+model` / `batched+model`: the same with a stand-in for the policy's LLM call before each
   step (`asyncio.sleep(--latency)`, default 20 ms: a fast local model's reply). Awaited one after
   another in `single+model`; gathered with the env steps in `batched+model` (`astep_many`), as a
   trainer running N rollouts concurrently would.

World steps are pure Python: batching them alone cannot beat the single loop (one core, the GIL);
the ratio shows its overhead. What batching buys is overlapping the waits (the model's replies, and a
world's own LLM-driven NPCs): the `+model` ratio. Figures are medians over rounds (a shared machine is noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from impress_sim.envs.chat_env import ImpressChatEnv, astep_many, step_many

MESSAGES = [
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": name, "arguments": args}}]}
    for name, args in [("list_emails", "{}"), ("list_files", "{}"), ("read_chat", "{}")]
]


def _envs(world: str, n: int) -> list[ImpressChatEnv]:
    envs = [ImpressChatEnv(world) for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.step(MESSAGES[0])  # warm: the first step of a fresh episode pays one-off costs in every mode alike
    return envs


def _renew(envs: list[ImpressChatEnv], results: list[Any]) -> None:
    for env, (_, _, terminated, truncated, _) in zip(envs, results, strict=True):
        if terminated or truncated:
            env.reset()


async def _one_by_one(envs: list[ImpressChatEnv], batch: list[Any], latency: float) -> list[Any]:
    out = []
    for env, m in zip(envs, batch, strict=True):
        await asyncio.sleep(latency)  # the policy's reply
        out.append(await env.astep(m))
    return out


async def _together(envs: list[ImpressChatEnv], batch: list[Any], latency: float) -> list[Any]:
    async def rollout(env: ImpressChatEnv, m: Any) -> Any:
        await asyncio.sleep(latency)
        return (await astep_many([env], [m]))[0]

    return list(await asyncio.gather(*(rollout(env, m) for env, m in zip(envs, batch, strict=True))))


def _run(envs: list[ImpressChatEnv], steps: int, mode: str, latency: float) -> float:
    """Seconds for `steps` rounds of one message per env."""
    start = time.perf_counter()
    for k in range(steps):
        batch = [MESSAGES[(k + i) % len(MESSAGES)] for i in range(len(envs))]
        if mode == "single":
            results = [env.step(m) for env, m in zip(envs, batch, strict=True)]
        elif mode == "batched":
            results = step_many(envs, batch)
        elif mode == "single+model":
            results = asyncio.run(_one_by_one(envs, batch, latency))
        else:
            results = asyncio.run(_together(envs, batch, latency))
        _renew(envs, results)
    return time.perf_counter() - start


def measure(world: str, n: int, steps: int, rounds: int, latency: float) -> dict[str, float]:
    """Env steps per second of each mode (medians) and the batched/single ratios (median of per-round ratios)."""
    modes = ["single", "batched", "single+model", "batched+model"]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    ratio, ratio_model = [], []
    for k in range(rounds):
        order = modes if k % 2 == 0 else modes[::-1]  # alternate, so no mode always runs first (warm-up, noise)
        took = {m: _run(_envs(world, n), steps, m, latency) for m in order}
        for m in modes:
            rates[m].append(n * steps / took[m])
        ratio.append(took["single"] / took["batched"])
        ratio_model.append(took["single+model"] / took["batched+model"])
    out = {f"{m}_steps_per_s": statistics.median(v) for m, v in rates.items()}
    return {**out, "batched_vs_single": statistics.median(ratio),
            "batched_vs_single_model": statistics.median(ratio_model)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="corporate_shutdown")
    parser.add_argument("--envs", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=10, help="rounds of one message per env, per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02, help="stand-in model latency per step (seconds)")
    args = parser.parse_args(argv)
    print(f"world {args.world}, {args.steps} steps per env, model stand-in {args.latency * 1000:.0f} ms")
    print(f"{'N envs':>6s} {'single/s':>9s} {'batched/s':>10s} {'ratio':>6s} {'single+model/s':>15s} "
          f"{'batched+model/s':>16s} {'ratio':>6s}")
    for n in args.envs:
        r = measure(args.world, n, args.steps, args.rounds, args.latency)
        print(f"{n:6d} {r['single_steps_per_s']:9.0f} {r['batched_steps_per_s']:10.0f} {r['batched_vs_single']:5.2f}x "
              f"{r['single+model_steps_per_s']:15.0f} {r['batched+model_steps_per_s']:16.0f} "
              f"{r['batched_vs_single_model']:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
