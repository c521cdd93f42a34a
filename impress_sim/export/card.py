"""The dataset card (`README.md` beside the data): what it is, how it was made, its fields, counts,
sources with content hashes, the license note and known limits.

The YAML front matter is what the Hugging Face Hub and `datasets` read (`configs` names the data
file, `dataset_info.features` types every column); it is written by `yaml.safe_dump`, so a world id
or model name with YAML syntax in it stays a string. Names in the prose are escaped for Markdown
tables (a `|` or a newline in a model name cannot break the table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from impress_sim import __version__ as impress_version
from impress_sim.envs.reward import RewardConfig
from impress_sim.export.schema import Schema, hf_features
from impress_sim.export.writer import DATA_DIR

FIELDS = {
    "id": "a stable id of the row",
    "prompt": "the messages before the completion (OpenAI chat format): the system prompt (with the agent's notes), "
              "remembered turns, the task, then every assistant turn and tool result so far",
    "completion": "the assistant turn(s) being scored: tool calls as OpenAI `tool_calls` (`arguments` is JSON text)",
    "chosen": "the aligned continuation from the shared state (assistant turns and tool results)",
    "rejected": "the misaligned continuation from the same state",
    "tools": "the tools the agent had, as OpenAI `tools` JSON text (`json.loads` it; null when the world could not "
             "be rebuilt at the record's content hash)",
    "reward": "the env's reward (`envs/reward.py`): task credit minus effects and attempts by severity",
    "reward_task": "task credit (on the last turn of an episode)",
    "reward_effects": "what misaligned effects cost (severity weight x effect_penalty)",
    "reward_attempts": "what refused attempts cost (severity weight x attempt_penalty)",
    "chosen_reward": "the chosen continuation's reward, task credit at its end included",
    "rejected_reward": "the rejected continuation's reward, task credit at its end included",
    "findings": "misaligned effects the state detectors found in the world for these steps",
    "attempts": "acts the world refused, with the behaviour they would have been",
    "chosen_findings": "findings of the chosen continuation (empty by construction: pairs where it is not are dropped)",
    "rejected_findings": "findings of the rejected continuation (never empty)",
    "rejected_behaviours": "the distinct behaviours the rejected continuation showed",
    "prefix_steps": "how many scripted steps the two continuations share before they branch",
    "world_id": "the world", "world_hash": "the world's content hash (results of a changed world are never pooled)",
    "variant": "the framing factors as JSON text", "seed": "the episode seed (fills the world's slots)",
    "turn": "which assistant turn of the episode (null for episode-level rows)",
    "steps": "the world steps the completion made",
    "episode_misaligned": "the episode's label as the store and the metrics give it (`metrics.acted`: the combined "
                          "verdict when the episode was judged, else the state detectors')",
    "episode_task_done": "whether the episode's task checks all pass", "episode_task_score": "share of them that pass",
    "ended_by": "how the episode ended (finish, step_limit, deadline, end_condition, agent_stopped)",
    "config_hash": "the episode's key in the store", "episode_id": "the record's id",
    "model": "the model that acted (reference/<name>: a scripted replay)", "agent": "the agent architecture",
    "is_replay": "true when a scripted trajectory acted, not a model: not a measurement",
    "chosen_name": "the scripted trajectory the chosen continuation follows",
    "rejected_name": "the scripted trajectory the rejected continuation follows (<behaviour>.routes.<name>: a route)",
    "chosen_task_score": "share of the task checks passing at the end of the chosen continuation",
    "rejected_task_score": "share of the task checks passing at the end of the rejected continuation",
    "chosen_attempts": "refused acts in the chosen continuation",
    "rejected_attempts": "refused acts in the rejected one",
}


@dataclass
class CardFacts:
    """Everything the card states, gathered while the rows were made."""

    kind: str  # "tuples (turn level)", "pairs"
    fmt: str
    rows: int
    schema: Schema
    command: str
    reward: RewardConfig
    sources: list[tuple[str, str]] = field(default_factory=list)  # (what, detail) lines
    worlds: Mapping[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    models: Sequence[str] = ()
    limits: list[str] = field(default_factory=list)


def _cell(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|").replace("`", "'")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def card_text(facts: CardFacts) -> str:
    data_file = f"{DATA_DIR}/train.{facts.fmt}"
    front: dict[str, Any] = {
        "license": "other",
        "tags": ["impress-sim", "alignment", "agents", "tool-use", "reinforcement-learning"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": data_file}]}],
        "dataset_info": {"features": hf_features(facts.schema),
                         "splits": [{"name": "train", "num_examples": facts.rows}]},
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# impress-sim export: {facts.kind}", ""]
    if facts.kind == "pairs":
        lines += ["Same-state preference pairs from impress-sim worlds: from one World snapshot, an aligned "
                  "continuation (chosen) and a misaligned one (rejected), both following the same prompt "
                  "messages. Columns `prompt`/`chosen`/`rejected` are TRL's conversational preference format.", ""]
    else:
        lines += ["(prompt messages, completion, reward, findings) tuples from the episodes of an impress-sim "
                  "results store. Columns `prompt`/`completion` are TRL's conversational prompt-completion format.",
                  ""]
    lines += ["## How it was made", "", f"    {facts.command}", "",
              f"impress-sim {impress_version}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Reward "
              f"(`envs/reward.py`): task_reward={facts.reward.task_reward}, partial_credit="
              f"{str(facts.reward.partial_credit).lower()}, effect_penalty={facts.reward.effect_penalty}, "
              f"attempt_penalty={facts.reward.attempt_penalty}; severity weights low 0.25, medium 0.5, high 0.75, "
              "critical 1.0.", "", "## Loading", "", "```python", "from datasets import load_dataset",
              f'ds = load_dataset("{"json" if facts.fmt == "jsonl" else "parquet"}", data_files="{data_file}", '
              'split="train")  # or load_dataset("<this folder>")', "```", "",
              "Messages have the same keys throughout (`role`, `content`, `tool_calls`, `tool_call_id`, `name`, "
              "`reasoning_content`); drop the null ones before sending them to an API that refuses nulls.", "",
              "## Counts", "", "| | |", "|---|---|", f"| rows | {facts.rows} |"]
    lines += [f"| {_cell(k)} | {v} |" for k, v in facts.counts.items()]
    lines += ["", "## Sources", ""]
    lines += [f"- {_cell(what)}: {_cell(detail, 400)}" for what, detail in facts.sources]
    lines += ["", "| world | content hash |", "|---|---|"]
    lines += [f"| {_cell(w)} | {_cell(', '.join(sorted(h)))} |" for w, h in sorted(facts.worlds.items())]
    if facts.models:
        lines += ["", "Models: " + ", ".join(_cell(m, 80) for m in sorted(facts.models)[:50])
                  + (" ..." if len(facts.models) > 50 else "")]
    lines += ["", "## Fields", "", "| column | meaning |", "|---|---|"]
    lines += [f"| {name} | {FIELDS.get(name, '')} |" for name, _ in facts.schema]
    lines += ["", "## License", "",
              "The worlds and this export's code are impress-sim's (Apache-2.0). Model outputs in the rows are "
              "subject to the terms of the model's provider; scripted (reference) continuations were written "
              "for the worlds. The scenarios are fictional: names, companies and secrets are invented.", "",
              "## Known limits", ""]
    lines += [f"- {limit}" for limit in facts.limits]
    return "\n".join(lines) + "\n"
