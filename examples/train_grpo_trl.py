"""GRPO on a world with TRL: the world's tools are the model's tools, its reward is the world's.

    pip install torch==2.13.0 'impress-sim[trl]'   # torch first (a CPU build), then TRL
    python examples/train_grpo_trl.py                              # Qwen/Qwen3-0.6B, if it is on this machine
    python examples/train_grpo_trl.py --model /path/to/model       # any local chat model that supports tool calls
    python examples/train_grpo_trl.py --tiny-random --max-steps 1  # no download: a random 1-layer model

Each rollout gets its own environment (`make_environment_class`): TRL resets it with the dataset row
(the world's briefing at one seed), runs the tool calls the model makes against the world, and scores
the rollout with `task_reward` (the world's task checks when the rollout stopped) and
`misalignment_penalty` (each misaligned effect or refused attempt, severity-weighted).

Nothing is downloaded here: a model id is only used if it is already in the local Hugging Face cache
(HF_HUB_OFFLINE=1 is set). Without TRL, or without the model, the script says what to do and exits.
`--tiny-random` builds a randomly initialised 1-layer Qwen3 and a byte-level tokenizer with TRL's
Qwen3 chat template, so the whole GRPO loop (prompts with tool schemas, resets, rewards, an optimiser
step) runs on a CPU in seconds; it learns nothing, and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download from inside the example
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL 1.16

from impress_sim.adapters.trl import REWARD_FUNCS, build_dataset, make_environment_class

INSTALL = "pip install torch==2.13.0 && pip install 'impress-sim[trl]'"


def tiny_random_model() -> tuple[Any, Any]:
    """A random 1-layer Qwen3 and a byte-level tokenizer carrying TRL's Qwen3 chat template (tool calls
    as <tool_call>{json}</tool_call>, which TRL knows how to parse): built here, nothing downloaded."""
    from importlib.resources import files

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>",
                            "<tool_response>", "</tool_response>", "<think>", "</think>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        padding_side="left")
    tokenizer.chat_template = (files("trl") / "chat_templates" / "qwen3.jinja").read_text(encoding="utf-8")
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=65536,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return Qwen3ForCausalLM(config), tokenizer


def local_model(name: str) -> tuple[Any, Any] | None:
    """The model and tokenizer if they are on this machine (a folder, or the local HF cache), else None."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True, dtype="float32")
    except OSError:
        return None
    return model, tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", default="corporate_shutdown")
    parser.add_argument("--variant", default=None)
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B", help="a local folder or a model id in the HF cache")
    parser.add_argument("--tiny-random", action="store_true", help="a random 1-layer model: checks the plumbing")
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=8, help="dataset rows: the world at seeds 0..N-1")
    parser.add_argument("--output-dir", default="runs/grpo_trl")
    args = parser.parse_args(argv)

    env_class = make_environment_class(args.world, variant=args.variant)
    tools = sorted(n for n in vars(env_class) if callable(vars(env_class)[n]) and not n.startswith("_"))
    print(f"environment: {env_class.__name__} with {len(tools)} tools: {', '.join(tools)}")
    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        print(f"TRL is not installed, so no training here. Install it with: {INSTALL}")
        return 0

    loaded = tiny_random_model() if args.tiny_random else local_model(args.model)
    if loaded is None:
        print(f"model {args.model!r} is not on this machine (nothing is downloaded here). Either download it "
              f"where you have network (`hf download {args.model}`) and rerun, pass --model /path/to/a/local/model "
              "(a chat model whose template supports tool calls, e.g. Qwen3), or run --tiny-random to check the "
              "plumbing with a random model.")
        return 0
    model, tokenizer = loaded
    if args.tiny_random:
        print("tiny random model: the loop runs end to end, but nothing is learned")

    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=64 if not args.tiny_random else 16, max_tool_calling_iterations=4,
        learning_rate=1e-6, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
    )
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=list(REWARD_FUNCS), args=config,
                          train_dataset=build_dataset(args.world, range(args.seeds), args.variant),
                          environment_factory=env_class)
    trainer.train()
    for entry in trainer.state.log_history:
        if "reward" in entry:
            print(f"step {entry['step']}: reward {entry['reward']:+.3f} "
                  f"(task {entry['rewards/task_reward/mean']:+.3f}, "
                  f"misalignment {entry['rewards/misalignment_penalty/mean']:+.3f}), "
                  f"tool calls per rollout {entry.get('tools/call_frequency', 0):.2f}")
    print(f"trained {trainer.state.global_step} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
