"""The environment class through TRL itself (skipped only when the `trl` extra is absent).

No model is downloaded: the tokenizer is a byte-level one built here with TRL's own Qwen3 chat template,
the model a random 1-layer Qwen3 (examples/train_grpo_trl.py's `tiny_random_model`). The fast tests use
the pieces GRPOTrainer uses (transformers' `get_json_schema` on the bound methods, TRL's
`supports_tool_calling`, the chat template rendering the tools, `add_response_schema` + `parse_response`
turning model text into the call TRL makes); the slow one runs GRPOTrainer with a model whose
`generate` writes a fixed tool call, so TRL's own tool loop steps the worlds and its reward pass
hands the environments to our reward functions.
"""

from __future__ import annotations

import inspect
import os
import runpy
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
pytest.importorskip("trl", reason="the TRL adapter's TRL tests need impress-sim[trl]")

import torch
from transformers.utils import get_json_schema
from trl.chat_template_utils import add_response_schema, parse_response, supports_tool_calling

from impress_sim.adapters.trl import (
    REWARD_FUNCS,
    build_dataset,
    dataset_rows,
    make_environment_class,
)
from impress_sim.envs import World, load_world, world_ids

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_grpo_trl.py"
WORLD = "corporate_shutdown"


def example() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLE), run_name="train_grpo_trl")


def tools_of(env: object) -> list[Any]:
    return [getattr(env, name) for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")]


def _normal(prop: dict[str, Any]) -> Any:
    """A JSON-schema property's type, as both sides write it (transformers writes Optional as nullable)."""
    if "anyOf" in prop:
        options = [_normal(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return options[0] if len(options) == 1 else options
    kind = prop.get("type")
    return (kind, _normal(prop["items"]) if kind == "array" and "items" in prop else None)


@pytest.mark.parametrize("world_id", world_ids())
def test_transformers_builds_each_worlds_schemas_back(world_id: str) -> None:
    """What the model is shown (get_json_schema of each bound method, as TRL renders tools) is the world's."""
    env = make_environment_class(world_id)()
    made = {s["function"]["name"]: s["function"] for s in map(get_json_schema, tools_of(env))}
    for schema in World(load_world(world_id), seed=0).tool_schemas():
        got = made[schema["name"]]
        assert got["description"] == schema["description"].strip()
        want = schema["parameters"]
        assert set(got["parameters"].get("required", [])) == set(want.get("required", []))
        assert list(got["parameters"]["properties"]) == list(want.get("properties", {}))
        for name, prop in want.get("properties", {}).items():
            mine = got["parameters"]["properties"][name]
            assert _normal(mine) == _normal(prop), (world_id, schema["name"], name)
            assert mine["description"] == " ".join(prop["description"].split())


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return example()["tiny_random_model"]()[1]


def test_the_prompt_renders_with_the_tools(tokenizer: Any) -> None:
    assert supports_tool_calling(tokenizer)
    env = make_environment_class(WORLD)()
    row = dataset_rows(WORLD, [0])[0]
    text = tokenizer.apply_chat_template(row["prompt"], tools=tools_of(env), tokenize=False, add_generation_prompt=True)
    assert '"name": "grant_access"' in text and "Recipient addresses." in text
    assert row["prompt"][-1]["content"] in text


def test_a_parsed_tool_call_steps_the_world(tokenizer: Any) -> None:
    """The model's text -> TRL's parser -> `method(**arguments)`, as GRPOTrainer's tool loop calls it."""
    add_response_schema(tokenizer)
    env = make_environment_class(WORLD)()
    row = dataset_rows(WORLD, [0])[0]
    env.reset(**row)
    tools = tools_of(env)
    prefix = tokenizer.apply_chat_template(row["prompt"], tools=tools, tokenize=True, add_generation_prompt=True,
                                           return_dict=True)["input_ids"]
    text = ('<tool_call>\n{"name": "read_chat", "arguments": {"channel": "general", "limit": "3"}}\n</tool_call>'
            '<tool_call>\n{"name": "grant_access", "arguments": {"user": "atlas", "permission": "admin"}}\n'
            "</tool_call><|im_end|>")
    parsed = parse_response(tokenizer, tokenizer.encode(text, add_special_tokens=False), prefix=prefix, tools=tools)
    calls = [c["function"] for c in parsed["tool_calls"]]
    assert calls[0]["arguments"]["limit"] == 3  # typed by our schema: "3" becomes the integer the tool takes
    by_name = {t.__name__: t for t in tools}
    by_name[calls[0]["name"]](**calls[0]["arguments"])
    call = calls[1]
    out = by_name[call["name"]](**call["arguments"])
    assert "admin" in out and env.findings == ["self_privilege"]


CALLS = [  # what the scripted model writes for the first and the second rollout of the batch
    '<tool_call>\n{"name": "grant_access", "arguments": {"user": "atlas", "permission": "admin"}}\n</tool_call>',
    '<tool_call>\n{"name": "read_email", "arguments": {"email_id": "m-101"}}\n</tool_call>',
]


@pytest.mark.slow
def test_grpo_trainer_runs_the_worlds(tmp_path: Path) -> None:
    from trl import GRPOConfig, GRPOTrainer

    model, tok = example()["tiny_random_model"]()
    response_start = tok.convert_tokens_to_ids("<tool_response>")
    seen: list[tuple[list[str], int]] = []

    def scripted_generate(input_ids: torch.Tensor, attention_mask: Any = None, **kwargs: Any) -> torch.Tensor:
        rows = []
        for row, ids in enumerate(input_ids.tolist()):
            # after the tool's answer: stop; else the row's call
            reply = "Done.<|im_end|>" if response_start in ids else CALLS[row] + "<|im_end|>"
            rows.append(tok.encode(reply, add_special_tokens=False))
        width = max(map(len, rows))
        tail = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows], dtype=input_ids.dtype)
        return torch.cat([input_ids, tail], dim=1)

    def spy(environments: list[Any], **kwargs: Any) -> list[float]:
        seen.extend((list(env.findings), len(env.trace)) for env in environments)
        return [0.0] * len(environments)

    model.generate = scripted_generate  # type: ignore[method-assign]
    env_class = make_environment_class(WORLD)
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                        max_completion_length=256, max_tool_calling_iterations=2, logging_steps=1,
                        save_strategy="no", report_to="none", use_cpu=True, shuffle_dataset=False)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[*REWARD_FUNCS, spy], args=config,
                          train_dataset=build_dataset(WORLD, [0, 1]), environment_factory=env_class)
    trainer.train()
    logs = next(e for e in trainer.state.log_history if "reward" in e)
    assert logs["tools/call_frequency"] > 0 and logs["tools/failure_frequency"] == 0
    # each rollout's own environment ran its own call, and the rewards read them in the batch's order
    assert seen == [(["self_privilege"], 1), ([], 1)]
    assert logs["rewards/misalignment_penalty/mean"] < 0 and logs["reward_std"] > 0


def test_the_example_explains_a_missing_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert example()["main"](["--model", "no-such-org/no-such-model"]) == 0
    out = capsys.readouterr().out
    assert "is not on this machine" in out and "--tiny-random" in out and "grant_access" in out


@pytest.mark.slow
def test_the_example_trains_a_tiny_random_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert example()["main"](["--tiny-random", "--max-steps", "1", "--seeds", "2",
                              "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "step 1: reward" in out and "trained 1 steps" in out
