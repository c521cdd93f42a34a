"""The dependency arrows of DESIGN.md, checked on the source (AST), not by importing anything.

Every `import` in the package is an edge; the test fails on any edge the design does not draw, on
every "never" it states, and on a circle between packages. Imports under `if TYPE_CHECKING:`
count too: a type-only arrow is still an arrow a reader has to follow.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "impress_sim"

LEAVES = {"errors", "taxonomy", "verdict", "quoting", "agent_notes", "textdiff", "yamlio", "packs"}
ORCHESTRATION = {"episode", "job", "preflight", "batch", "roles", "interview", "metrics", "metrics_text"}
COMMAND_PACKAGES = {"run", "cli", "render", "sweep", "report", "probes", "generate", "export", "serve", "adapters",
                    "__main__"}
# what each layer may import (besides itself); commands may import anything
MAY_IMPORT: dict[str, set[str]] = {
    "leaves": {"leaves"},
    "models": {"leaves"},
    "envs": {"leaves", "models"},
    "record": {"leaves", "envs"},
    "agents": {"leaves", "models", "envs", "record"},
    "judge": {"leaves", "models", "envs", "record"},
    "orchestration": {"leaves", "models", "envs", "record", "agents", "judge", "orchestration"},
}
# parts carved out of `World`: they are handed what they need and never import the world
CARVED_OUT_OF_WORLD = {"impress_sim.envs.schedule", "impress_sim.envs.routing", "impress_sim.envs.effects",
                       "impress_sim.envs.npcs", "impress_sim.envs.detectors", "impress_sim.envs.state",
                       "impress_sim.envs.turns", "impress_sim.envs.step"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


def _imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every impress_sim module the source imports (absolute imports; relative ones resolved)."""
    tree = ast.parse(source)
    here = module.split(".")
    package = here if is_package else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "impress_sim"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module and node.module.split(".")[0] == "impress_sim":
                found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")
            if "__pycache__" not in p.parts and not _is_world_file(_module_name(p))}


def _is_world_file(module: str) -> bool:
    parts = module.split(".")
    return len(parts) >= 4 and parts[1] == "worlds"  # impress_sim.worlds.<id>.<module>


def _layer(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if parts[-1] == "__main__" or top in COMMAND_PACKAGES or top == "worlds":
        return "commands"
    if top in LEAVES:
        return "leaves"
    if top in ORCHESTRATION:
        return "orchestration"
    if top == "__init__":
        return "envs"  # `import impress_sim` registers the worlds with Gymnasium, nothing more
    return top


GRAPH = _graph()
EDGES = sorted((a, b) for a, bs in GRAPH.items() for b in bs)


def test_the_graph_is_read() -> None:
    assert len(GRAPH) > 80 and ("impress_sim.episode", "impress_sim.agents.session") in EDGES


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_every_arrow_is_one_the_design_draws(layer: str) -> None:
    allowed = MAY_IMPORT[layer] | {layer}
    bad = [f"{a} -> {b}" for a, b in EDGES if _layer(a) == layer and _layer(b) not in allowed]
    assert not bad, f"{layer} may import only {sorted(allowed)}: {bad}"


def test_nothing_but_a_command_imports_a_command() -> None:
    bad = [f"{a} -> {b}" for a, b in EDGES if _layer(b) == "commands" and _layer(a) != "commands"]
    assert not bad


def test_judge_and_agents_never_import_each_other() -> None:
    bad = [f"{a} -> {b}" for a, b in EDGES if {_layer(a), _layer(b)} == {"agents", "judge"}]
    assert not bad


def test_parts_carved_out_of_the_world_never_import_it() -> None:
    bad = [f"{a} -> {b}" for a, b in EDGES if a in CARVED_OUT_OF_WORLD and b == "impress_sim.envs.world"]
    assert not bad


def test_packages_form_no_circle() -> None:
    """Between top-level parts (envs, models, agents, ...), the arrows never close a circle."""
    top: dict[str, set[str]] = defaultdict(set)
    for a, b in EDGES:
        ta, tb = _layer(a), _layer(b)
        if ta != tb and "commands" not in (ta, tb):
            top[ta].add(tb)
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(top[node]):
            assert seen.get(nxt) != 1, f"import circle: {' -> '.join([*path, nxt])}"
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for node in sorted(top):
        if node not in seen:
            visit(node, [node])


def test_worlds_import_only_the_public_envs_api() -> None:
    """A world's hooks (and the modules beside them) use `impress_sim.envs` and each other, nothing deeper."""
    bad = []
    for path in (PACKAGE / "worlds").glob("*/*.py"):
        world = path.parent.name
        for module in _imports(path):
            if module != "impress_sim.envs" and not module.startswith(f"impress_sim.worlds.{world}"):
                bad.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not bad


def test_a_forbidden_arrow_would_be_caught() -> None:
    """The checker sees the imports that matter: absolute, relative, inside functions, type-only."""
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from impress_sim.agents.session import EpisodeSession\n"
              "def f():\n    import impress_sim.judge.llm\n    from . import state\n")
    found = _imports_of(source, "impress_sim.envs.probe", is_package=False)
    assert found == {"impress_sim.agents.session", "impress_sim.judge.llm", "impress_sim.envs"}
    assert _layer("impress_sim.agents.session") == "agents" and "agents" not in MAY_IMPORT["envs"]
