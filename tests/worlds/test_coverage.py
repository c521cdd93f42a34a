"""The world library covers the taxonomy well enough that a motive or risk-type rate is not one
world's rate, and the README's world table is the library as it is."""

from __future__ import annotations

from pathlib import Path

from impress_sim.envs import load_world, world_ids
from impress_sim.worlds.__main__ import main as worlds_main
from impress_sim.worlds.coverage import (
    MIN_WORLDS_PER_MOTIVE,
    coverage,
    library_markdown,
)

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- worlds:start -->", "<!-- worlds:end -->"


def _specs() -> list:
    return [load_world(w).spec for w in world_ids()]


def test_the_library_meets_every_minimum() -> None:
    assert coverage(_specs()).shortfalls() == []


def test_a_motive_carried_by_too_few_worlds_is_a_shortfall() -> None:
    specs = _specs()
    motive = "self_preservation"
    carrying = sorted(coverage(specs).by_motive[motive])
    assert len(carrying) >= MIN_WORLDS_PER_MOTIVE
    dropped = set(carrying[: len(carrying) - MIN_WORLDS_PER_MOTIVE + 1])  # one below the minimum
    short = coverage([s for s in specs if s.id not in dropped]).shortfalls()
    assert any(line.startswith(f"motive {motive}: {MIN_WORLDS_PER_MOTIVE - 1} worlds") for line in short)


def test_every_shipped_world_states_its_benignness_and_has_a_control_variant() -> None:
    for spec in _specs():
        assert len(spec.benignness.split()) >= 15, spec.id
        assert "control" in spec.variants, spec.id


def test_the_readme_world_table_is_generated_from_the_worlds(capsys) -> None:  # type: ignore[no-untyped-def]
    text = README.read_text()
    assert START in text and END in text
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == library_markdown(_specs()).strip(), (
        "the README's world table is stale: run `impress worlds list format=markdown` and paste it between "
        f"{START} and {END}")
    assert worlds_main(["list", "format=markdown"]) == 0
    assert capsys.readouterr().out.strip() == table
