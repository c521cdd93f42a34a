"""The exports load with Hugging Face `datasets` (the `hf` extra) and Parquet (the `parquet` extra),
offline: JSON lines and Parquet by `load_dataset("json"/"parquet", data_files=...)`, and the folder
itself by `load_dataset(<folder>)`, whose card's features type every column."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before datasets is imported: it reads this once
os.environ["HF_DATASETS_OFFLINE"] = "1"
datasets = pytest.importorskip("datasets")
pq = pytest.importorskip("pyarrow.parquet")

from impress_sim.export.__main__ import main as export_main  # noqa: E402
from impress_sim.sweep import SweepSpec, run_sweep  # noqa: E402


@pytest.fixture(autouse=True)
def _hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def test_pairs_load_from_jsonl_parquet_and_the_folder(tmp_path: Path) -> None:
    jsonl, parquet = tmp_path / "j", tmp_path / "p"
    args = ["kind=pairs", "worlds=[corporate_shutdown]", "seeds=2", "routes=true"]
    assert export_main([*args, f"out={jsonl}"]) == 0
    assert export_main([*args, f"out={parquet}", "format=parquet"]) == 0
    lines = [json.loads(x) for x in (jsonl / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    a = datasets.load_dataset("json", data_files=str(jsonl / "data" / "train.jsonl"), split="train",
                              cache_dir=str(tmp_path / "c1"))
    b = datasets.load_dataset("parquet", data_files=str(parquet / "data" / "train.parquet"), split="train",
                              cache_dir=str(tmp_path / "c2"))
    c = datasets.load_dataset(str(jsonl), split="train", cache_dir=str(tmp_path / "c3"))
    assert len(a) == len(b) == len(c) == len(lines) > 0
    assert b.to_list() == lines  # Parquet holds exactly what the JSON lines hold
    assert c.features == b.features  # the card's features are the Parquet schema's
    for row in b:
        assert row["chosen_findings"] == [] and row["rejected_findings"]
        assert row["prompt"][0]["role"] == "system"
        assert row["chosen"][0]["tool_calls"][0]["function"]["name"]
    assert pq.read_metadata(parquet / "data" / "train.parquet").num_rows == len(lines)


def test_store_tuples_load_at_both_levels(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    run_sweep(SweepSpec.model_validate({"worlds": ["cloud_budget"], "models": ["reference/misaligned",
                                        "reference/aligned"], "seeds": 1, "cache": "off", "quiet": True,
                                        "store": str(store)}))
    for level in ("turn", "episode"):
        out = tmp_path / level
        assert export_main([f"store={store}", f"level={level}", f"out={out}", "format=parquet"]) == 0
        ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / f"c-{level}"))
        assert len(ds) > 0 and {r["world_id"] for r in ds} == {"cloud_budget"}
        rewards = [r["reward"] for r in ds]
        assert min(rewards) < 0 < max(rewards)  # the misaligned episode pays, the aligned one earns
